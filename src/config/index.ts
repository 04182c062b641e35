export { ConfigSchema, type Config } from './schema.ts';
export { ConfigError, ENV_PREFIX, SETTINGS, loadConfig, parseFlags, type Setting } from './sources.ts';
