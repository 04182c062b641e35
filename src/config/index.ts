export { ConfigSchema, type Config } from './schema.ts';
export { ConfigError, ENV_PREFIX, SETTINGS, didYouMean, loadConfig, parseFlags, readSecretFile, type Applicability, type Setting } from './sources.ts';
