/** Options several commands share. Every description ends with its default, so `--help` shows them all. */
import { Option } from 'commander';
import { configSchema } from '../config/schema.js';

/** The log levels the config accepts. */
const LOG_LEVELS = configSchema.shape.logLevel.unwrap().options;

/** `--log-level`; no commander default, so a config file or variable can still set it for the proxy. */
export function logLevelOption(): Option {
  return new Option('--log-level <level>', 'log level (default: info)').choices(LOG_LEVELS);
}
