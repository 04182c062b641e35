import { describe, expect, it } from 'vitest';
import { joinSplitRules, matchesRequest, namesAddress, parseRule } from '../../src/egress/rules.ts';
import { specialAddressKind } from '../../src/egress/special-addresses.ts';

const allows = (rule: string, method: string, url: string) => matchesRequest(parseRule(rule), method, new URL(url));

describe('egress rule patterns', () => {
  // [rule, method, URL, allowed]: scheme, host, default or given port, path prefix on segment
  // boundaries (after the URL parser's normalization), wildcards below a domain only, IDN in ASCII.
  it.each([
    ['https://api.example.com/v1', 'GET', 'https://api.example.com/v1/users?x=1', true],
    ['https://api.example.com/v1', 'GET', 'https://api.example.com/v1', true],
    ['https://api.example.com/v1', 'GET', 'https://api.example.com/v10', false],
    ['https://api.example.com/v1', 'GET', 'https://api.example.com/v1/../admin', false],
    ['https://api.example.com/v1', 'GET', 'http://api.example.com/v1', false],
    ['https://api.example.com', 'GET', 'https://api.example.com:8443/', false],
    ['https://api.example.com:*', 'GET', 'https://api.example.com:8443/', true],
    ['http://api.example.com:8080', 'GET', 'http://api.example.com:8080/x', true],
    ['https://*.example.com', 'GET', 'https://a.b.example.com/', true],
    ['https://*.example.com', 'GET', 'https://example.com/', false],
    ['https://*.example.com', 'GET', 'https://evilexample.com/', false],
    ['https://bücher.example', 'GET', 'https://xn--bcher-kva.example/', true],
    ['https://*', 'GET', 'https://anything.test/', true],
    ['GET,POST https://a.test', 'post', 'https://a.test/', true],
    ['GET,POST https://a.test', 'DELETE', 'https://a.test/', false],
    ['http://10.0.0.0/8:*', 'GET', 'http://10.1.2.3:9000/', true],
    ['http://10.0.0.0/8:*', 'GET', 'http://11.1.2.3:9000/', false],
    ['http://[fd00::/8]:8080', 'GET', 'http://[fd12::1]:8080/', true],
    ['http://127.0.0.1:8080', 'GET', 'http://localhost:8080/', false],
  ] as const)('%s, %s %s: %s', (rule, method, url, allowed) => {
    expect(allows(rule, method, url)).toBe(allowed);
  });

  it('a flag split at the method commas is joined back', () => {
    expect(joinSplitRules(['GET', 'POST https://a.test/', 'https://b.test', 'subject=x GET', 'PUT https://c.test'])).toEqual([
      'GET,POST https://a.test/',
      'https://b.test',
      'subject=x GET,PUT https://c.test',
    ]);
  });

  it('IP and CIDR rules name the addresses hostname rules cannot reach', () => {
    expect(namesAddress(parseRule('http://127.0.0.1:8080'), 'http:', '127.0.0.1', 8080)).toBe(true);
    expect(namesAddress(parseRule('http://127.0.0.1:8080'), 'http:', '127.0.0.1', 8081)).toBe(false);
    expect(namesAddress(parseRule('http://*:8080'), 'http:', '127.0.0.1', 8080)).toBe(false);
  });

  it('refuses malformed rules with the reason', () => {
    expect(() => parseRule('ftp://a.test')).toThrow(/scheme must be http or https/);
    expect(() => parseRule('https://a.*.test')).toThrow(/wildcard/);
    expect(() => parseRule('GET')).toThrow(/no URL pattern/);
    expect(() => parseRule('https://::1/')).toThrow(/expected scheme|IPv6/);
    expect(() => parseRule('http://10.0.0.0/33')).toThrow(/prefix length/);
    expect(() => joinSplitRules(['GET'])).toThrow(/no URL pattern/);
  });
});

describe('special addresses', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['::1', 'loopback'],
    ['10.9.8.7', 'private'],
    ['172.31.0.1', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local (cloud metadata)'],
    ['fe80::1', 'link-local'],
    ['fd00:ec2::254', 'private (unique local, cloud metadata)'],
    ['224.0.0.1', 'multicast'],
    ['0.0.0.0', 'unspecified'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['64:ff9b::a00:1', 'private'],
    ['100.64.0.1', 'shared (carrier-grade NAT)'],
  ])('%s is %s', (address, kind) => {
    expect(specialAddressKind(address)).toBe(kind);
  });

  it.each(['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946', '8.8.8.8'])('%s is an ordinary public address', (address) => {
    expect(specialAddressKind(address)).toBeNull();
  });
});
