/**
 * The desktop app's configuration and log: the same loadConfig as `scim-bridge serve`, with the
 * data directory defaulting to the app's own folder instead of ~/.scim-bridge, and the log
 * written to a file (a desktop app has no terminal to print to).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { loadConfig, type GatewayConfig } from '../gateway/config.js';

export interface DesktopConfig {
  config: GatewayConfig;
  /** The config file used, if any. */
  configFile?: string;
}

/** `<userData>/data`: where the desktop app keeps the store, tokens and audit log by default. */
export function defaultDesktopDataDir(userData: string): string {
  return join(userData, 'data');
}

/** SCIM_BRIDGE_CONFIG, else `<userData>/config.json` when it exists. */
export function desktopConfigFile(userData: string, env: NodeJS.ProcessEnv): string | undefined {
  if (env.SCIM_BRIDGE_CONFIG) return env.SCIM_BRIDGE_CONFIG;
  const file = join(userData, 'config.json');
  return existsSync(file) ? file : undefined;
}

function fileSetsDataDir(file: string): boolean {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return typeof parsed === 'object' && parsed !== null && 'dataDir' in parsed;
  } catch {
    return false; // loadConfig reports the unreadable file with its reason
  }
}

/**
 * Loads the configuration as `serve` does (defaults < config file < SCIM_BRIDGE_* environment);
 * the desktop data directory is only the default, below both.
 */
export function loadDesktopConfig(userData: string, env: NodeJS.ProcessEnv = process.env): DesktopConfig {
  const configFile = desktopConfigFile(userData, env);
  const dataDirGiven = env.SCIM_BRIDGE_DATA_DIR !== undefined || (configFile !== undefined && fileSetsDataDir(configFile));
  const config = loadConfig({ env, configFile, flags: dataDirGiven ? {} : { dataDir: defaultDesktopDataDir(userData) } });
  return configFile ? { config, configFile } : { config };
}

export interface DesktopLogger {
  logger: Logger;
  file: string;
  /** Writes out what is buffered (before the process exits). */
  flush(): void;
}

/**
 * JSON lines in `<logsDir>/gateway.log` (and on stdout when run from a terminal). Redacts the
 * same fields as the gateway's own logger.
 */
export function createDesktopLogger(config: GatewayConfig, logsDir: string, alsoStdout: boolean): DesktopLogger {
  const file = join(logsDir, 'gateway.log');
  const destination = pino.destination({ dest: file, mkdir: true, sync: false });
  const streams: pino.StreamEntry[] = [{ stream: destination, level: 'trace' }];
  if (alsoStdout) streams.push({ stream: process.stdout, level: 'trace' });
  const logger = pino(
    { level: config.logLevel, redact: { paths: ['req.headers.authorization', 'headers.authorization', 'token', 'password', '*.password'], censor: '[redacted]' } },
    pino.multistream(streams),
  );
  return {
    logger,
    file,
    flush() {
      try {
        destination.flushSync();
      } catch {
        // not open yet (nothing written): nothing to flush
      }
    },
  };
}
