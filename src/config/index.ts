export { ConfigSchema, type Config } from './schema.ts';
export { ConfigError, ENV_PREFIX, FLAG_NAMES, SETTINGS, didYouMean, isKubernetesServiceLink, loadConfig, parseFlags, type Applicability, type Setting } from './sources.ts';
