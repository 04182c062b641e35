import { InvalidScopeError } from './oauth-errors.ts';

/** The scopes asked for, if `allowed` holds every one of them (a grant can narrow its scope, never widen it). */
export function narrowScope(requested: string, allowed: string): string {
  const allowedSet = new Set(allowed.split(' '));
  const scopes = [...new Set(requested.split(' ').filter(Boolean))];
  const refused = scopes.filter((s) => !allowedSet.has(s));
  if (refused.length || scopes.length === 0) throw new InvalidScopeError(`scope not available: ${refused.join(' ') || '(empty)'}`);
  return scopes.join(' ');
}
