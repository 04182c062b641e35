import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, SETTINGS } from '../../src/config/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'raftbox-config-'));
const file = (data: unknown) => {
  const path = join(dir, `c${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(path, typeof data === 'string' ? data : JSON.stringify(data));
  return path;
};

describe('configuration', () => {
  it('has the documented defaults', () => {
    const c = loadConfig([], {});
    expect(c).toMatchObject({ host: '127.0.0.1', port: 3000, dataDir: './data', nodeId: 'n1', peers: {}, oauth: { enabled: false } });
  });

  it('takes flags over RAFTBOX_ env over the config file over defaults', () => {
    const path = file({ port: 4001, host: '0.0.0.0', maxQueue: 7, nodeId: 'from-file' });
    const env = { RAFTBOX_PORT: '4002', RAFTBOX_MAX_QUEUE: '8' };
    const c = loadConfig(['--config', path, '--port', '4003'], env);
    expect(c.port).toBe(4003);
    expect(c.maxQueue).toBe(8);
    expect(c.host).toBe('0.0.0.0');
    expect(c.nodeId).toBe('from-file');
    expect(c.maxMemoryMb).toBe(512);
  });

  it('honours PORT below RAFTBOX_PORT', () => {
    expect(loadConfig([], { PORT: '5000' }).port).toBe(5000);
    expect(loadConfig([], { PORT: '5000', RAFTBOX_PORT: '5001' }).port).toBe(5001);
    expect(loadConfig(['--port=5002'], { PORT: '5000' }).port).toBe(5002);
  });

  it('reads numbers, booleans, maps and nested keys from text sources', () => {
    const c = loadConfig(['--oauth', '--peers', 'n1=http://127.0.0.1:7101,n2=http://127.0.0.1:7102', '--cluster-secret', 'a-secret-of-16-chars'], {
      RAFTBOX_MAX_TIMEOUT_SECS: '12.5',
    });
    expect(c.oauth.enabled).toBe(true);
    expect(c.peers).toEqual({ n1: 'http://127.0.0.1:7101', n2: 'http://127.0.0.1:7102' });
    expect(c.maxTimeoutSecs).toBe(12.5);
    expect(loadConfig([], { RAFTBOX_OAUTH_ENABLED: 'false' }).oauth.enabled).toBe(false);
    expect(loadConfig(['--config', file({ oauth: { enabled: true } })], {}).oauth.enabled).toBe(true);
  });

  it('refuses unknown flags, variables and file keys with a clear message', () => {
    expect(() => loadConfig(['--prot', '1'], {})).toThrow(new ConfigError('unknown flag --prot (see raftbox --help)'));
    expect(() => loadConfig([], { RAFTBOX_PROT: '1' })).toThrow(/unknown environment variable RAFTBOX_PROT/);
    expect(() => loadConfig(['--config', file({ prot: 1 })], {})).toThrow(/unknown key "prot" in the config file/);
    expect(() => loadConfig(['--config', file({ oauth: { bogus: 1 } })], {})).toThrow(/unknown key "bogus" in "oauth"/);
  });

  it('explains bad values and where they came from', () => {
    expect(() => loadConfig(['--port', 'abc'], {})).toThrow('--port expects a number, got "abc"');
    expect(() => loadConfig([], { RAFTBOX_PORT: '70000' })).toThrow(/port \(from RAFTBOX_PORT\)/);
    expect(() => loadConfig(['--log-level', 'loud'], {})).toThrow(/logLevel \(from --log-level\)/);
    expect(() => loadConfig(['--port'], {})).toThrow('flag --port needs a value');
    expect(() => loadConfig(['--config', file('{nope')], {})).toThrow(/is not valid JSON/);
    expect(() => loadConfig(['--config', join(dir, 'missing.json')], {})).toThrow(/cannot read config file/);
    expect(() => loadConfig(['serve'], {})).toThrow('unexpected argument "serve"');
  });

  it('derives one flag and one variable per setting, all described', () => {
    for (const s of SETTINGS) {
      expect(s.description, s.flag).not.toBe('');
      expect(s.env).toMatch(/^RAFTBOX_[A-Z_]+$/);
    }
    expect(new Set(SETTINGS.map((s) => s.flag)).size).toBe(SETTINGS.length);
  });
});
