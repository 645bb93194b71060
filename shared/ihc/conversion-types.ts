import * as E from 'fp-ts/lib/Either.js';
import type { Knex } from 'knex';
import { IhcParams } from '../attribution/params.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';

/**
 * IHC parameter sets saved by fit-ihc live in table conversion_types; config models.conversion_types
 * wins on a name clash, so a set written in the file is never silently replaced by a fitted one.
 */
export async function readStoredConversionType(db: Knex, name: string, logger: Logger): Promise<IhcParams | undefined> {
  if (!(await db.schema.hasTable('conversion_types'))) return undefined;
  const row = (await db('conversion_types').select('params').where('name', name).first()) as { params: string } | undefined;
  if (row === undefined) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(row.params);
  } catch {
    raw = undefined;
  }
  const p = IhcParams.decode(raw);
  if (E.isLeft(p)) {
    logger.warn(`conversion_types row "${name}" does not hold a valid parameter set; ignored`);
    return undefined;
  }
  return p.right;
}

/** The config with the stored set `name` added when the file does not define it. */
export async function withStoredConversionType(db: Knex, config: Config, name: string, logger: Logger): Promise<Config> {
  if (Object.prototype.hasOwnProperty.call(config.models.conversion_types, name)) return config;
  const stored = await readStoredConversionType(db, name, logger);
  if (stored === undefined) return config;
  logger.info(`conversion type "${name}" comes from table conversion_types (fitted with fit-ihc)`);
  return { ...config, models: { ...config.models, conversion_types: { ...config.models.conversion_types, [name]: stored } } };
}
