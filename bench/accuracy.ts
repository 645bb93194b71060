/**
 * `make accuracy`: every model against planted truth. For each scenario of shared/generate/truth.ts it runs
 * the whole pipeline as a user would (generate-data --scenario, setup-db, load, build-journeys with the
 * non-converting paths, send-to-api with the local provider, fit-ihc, process-attribution), each step a child
 * process on a fresh SQLite file, then scores each model's channel credit against truth.csv:
 *
 *   - tvd: total variation distance between credited and true channel shares (0 = perfect, 1 = disjoint);
 *     undefined (null) when no channel causes anything (scenario no_effect);
 *   - tvd_orders: the same over all orders with a "would have happened anyway" bucket (channels' credited
 *     orders / all orders, and the rest): the measure that stays defined when nothing works. A model that
 *     credits every order to channels has an empty bucket;
 *   - score: the figure the goal (GOAL, at most 0.10) applies to: tvd, or tvd_orders where tvd is undefined.
 *     With no incremental order to share, recovering the truth means telling that the orders would have
 *     happened anyway: at most a tenth of all orders credited to channels;
 *   - rho: Spearman's rank correlation of credited and true incremental orders per channel.
 *
 * Figures per model: the IHC-style model with the default weights is what the pipeline stored in
 * channel_reporting (send-to-api, local provider); with the fitted parameters (fit-ihc) the same engine over
 * the stored journeys; the global models (markov, shapley, incremental) their global figures (as
 * attribute-paths prints them), fitted on the window's converting and non-converting paths (incremental: one
 * unit per user without an order, as process-attribution fits it); the heuristics
 * their per-journey credit summed. Parameters are the documented defaults or come from fit-ihc: nothing is
 * tuned to a scenario.
 *
 * Sampling spread (`--spread N`, default 10): one seed is one sample of users, and the scores move with it. For
 * the incremental model the runner also scores each scenario re-simulated with seeds 1..N in process, without
 * the pipeline: a simulated user's touches are exactly the pipeline's paths for that model (a converting journey
 * holds every session before the order, a user without one is one unit), which the run checks by scoring its
 * own seed both ways (`spread[].same_seed_in_process` beside the pipeline's row). Mean and worst per scenario.
 *
 * Run: node dist/bench/accuracy.js [--scale N] [--seed N] [--keep DIR] [--spread N]. Writes bench/results/accuracy.json.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as E from 'fp-ts/lib/Either.js';
import knex from 'knex';
import { rankCorrelation, sharesOf, sharesWithBaseline, totalVariation } from '../shared/attribution/accuracy.js';
import { attributePaths, creditJourney, fitModel, ihcParamsFor } from '../shared/attribution/models.js';
import { DEFAULT_MODELS_CONFIG, IhcParams } from '../shared/attribution/params.js';
import { PathAggregator } from '../shared/attribution/paths.js';
import { MODEL_NAMES, type ModelName } from '../shared/attribution/types.js';
import type { Fitted } from '../shared/attribution/models.js';
import { SCENARIOS, simulateUser, TruthTally, type Scenario } from '../shared/generate/truth.js';
import { journeySql } from '../shared/journeys/sql.js';
import { journeyPages } from '../shared/reporting/journeys.js';
import { windowPathAggregate } from '../shared/reporting/models.js';
import { benchArgs } from './args.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const WINDOW = { start: '2024-03-01', end: '2024-03-28' };
const FITTED = 'accuracy_fitted';
const GOAL = 0.1;

type Row = {
  scenario: string;
  model: string;
  tvd: number | null;
  tvd_orders: number;
  score: number;
  rho: number | null;
  credited_orders: Record<string, number>;
};

function run(task: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'dist/tasks', task, 'main.js'), ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`${task} exited ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`))));
  });
}

function readTruth(file: string): Map<string, number> {
  const lines = fs.readFileSync(file, 'utf8').trim().split('\n').slice(1);
  const out = new Map<string, number>();
  for (const l of lines) {
    // channel names of the scenarios hold no comma or quote
    const [channel, orders] = l.split(',');
    out.set(channel!, Number(orders));
  }
  return out;
}

async function scenarioRows(s: Scenario, dir: string, scale: number, seed: number): Promise<Row[]> {
  const data = path.join(dir, 'data');
  const env = { DATABASE_URL: path.join(dir, 'accuracy.db'), OUTPUT_DIR: path.join(dir, 'output'), LOG_LEVEL: 'warn' };
  const w = ['--start-date', WINDOW.start, '--end-date', WINDOW.end];
  await run('setup-db', [], env);
  await run('generate-data', ['--scenario', s.name, '--output', data, '--scale', String(scale), '--seed', String(seed), ...w, '--load'], env);
  await run('build-journeys', [...w, '--non-converting'], env);
  await run('send-to-api', [...w, '--provider', 'local'], env);
  await run('fit-ihc', [...w, '--name', FITTED, '--replace'], env);
  await run('process-attribution', w, env);

  const truth = readTruth(path.join(data, 'truth.csv'));
  const db = knex({ client: 'better-sqlite3', connection: { filename: env.DATABASE_URL }, useNullAsDefault: true });
  try {
    const cfg = DEFAULT_MODELS_CONFIG;
    const orders = Number(((await db('conversions').count({ n: '*' }).first()) as { n: unknown }).n);
    const stored = (await db('conversion_types').where({ name: FITTED }).first()) as { params: string } | undefined;
    const fittedParams = stored === undefined ? undefined : IhcParams.decode(JSON.parse(stored.params));
    if (fittedParams === undefined || E.isLeft(fittedParams)) throw new Error('fit-ihc saved no readable parameter set');

    const byModel = new Map<string, Map<string, number>>();
    const add = (m: string, c: string, x: number): void => {
      let t = byModel.get(m);
      if (t === undefined) byModel.set(m, (t = new Map()));
      t.set(c, (t.get(c) ?? 0) + x);
    };
    const ihcFitted: Fitted = { model: 'ihc', params: fittedParams.right };
    const heuristics = MODEL_NAMES.filter((m) => m !== 'ihc' && m !== 'markov' && m !== 'shapley' && m !== 'incremental');
    const fittedHeuristics = heuristics.map((m) => {
      const f = fitModel(m, cfg, []);
      if (E.isLeft(f)) throw new Error(`cannot fit ${m}`);
      return f.right;
    });
    for await (const page of journeyPages(db, WINDOW, 1000)) {
      for (const j of page) {
        for (const f of [...fittedHeuristics, ihcFitted]) {
          const credit = creditJourney(f, j);
          const name = f === ihcFitted ? 'ihc_fitted' : f.model;
          j.sessions.forEach((x, i) => add(name, x.channel, credit[i]!));
        }
      }
    }
    // the global models' paths: those the pipeline's model comparison fits them on
    const { agg } = await windowPathAggregate(db, journeySql(db), WINDOW, { pageSize: 1000, perUser: true });
    for (const m of ['markov', 'shapley', 'incremental'] as ModelName[]) {
      const r = attributePaths(m, cfg, m === 'incremental' ? agg.userPaths() : agg.paths());
      if (E.isLeft(r)) throw new Error(`cannot attribute ${m}`);
      for (const [c, v] of r.right) add(m, c, v.conversions);
    }
    // the IHC-style model as the pipeline stored it (send-to-api, local provider, default parameters)
    const reported = (await db('channel_reporting').select('channel_name').sum({ ihc: 'ihc' }).groupBy('channel_name')) as Array<{ channel_name: string; ihc: unknown }>;
    for (const r of reported) add('ihc', r.channel_name, Number(r.ihc));
    if (E.isLeft(ihcParamsFor(cfg))) throw new Error('no default IHC parameters');

    const channels = [...truth.keys()].sort();
    const trueIncremental = [...truth.values()].reduce((a, b) => a + b, 0);
    const models = ['ihc', 'ihc_fitted', ...heuristics, 'markov', 'shapley', 'incremental'];
    return models.map((m) => {
      const credited = byModel.get(m) ?? new Map<string, number>();
      return {
        scenario: s.name,
        model: m,
        ...scores(credited, truth, orders),
        rho: trueIncremental > 0 ? roundOrNull(rankCorrelation(channels.map((c) => credited.get(c) ?? 0), channels.map((c) => truth.get(c)!))) : null,
        credited_orders: Object.fromEntries(channels.map((c) => [c, round(credited.get(c) ?? 0)])),
      };
    });
  } finally {
    await db.destroy();
  }
}

function scores(credited: ReadonlyMap<string, number>, truth: ReadonlyMap<string, number>, orders: number): Pick<Row, 'tvd' | 'tvd_orders' | 'score'> {
  const channels = [...truth.keys()].sort();
  const trueIncremental = [...truth.values()].reduce((a, b) => a + b, 0);
  const tvd = trueIncremental > 0 ? round(totalVariation(sharesOf(credited, channels), sharesOf(truth, channels))) : null;
  const tvdOrders = round(totalVariation(sharesWithBaseline(credited, channels, orders), sharesWithBaseline(truth, channels, orders)));
  return { tvd, tvd_orders: tvdOrders, score: tvd ?? tvdOrders };
}

/** The incremental model's score on a scenario simulated in process with one seed (see "Sampling spread"). */
function inProcessScore(s: Scenario, seed: number, scale: number): number {
  const agg = new PathAggregator();
  const tally = new TruthTally(s);
  const users = Math.max(1, Math.round(s.users * scale));
  for (let i = 0; i < users; i++) {
    const u = simulateUser(s, seed, i);
    const converts = tally.add(u);
    agg.add(u.touches, converts ? 1 : 0, converts ? u.revenue : 0, converts ? 0 : 1);
  }
  const t = tally.truth();
  const r = attributePaths('incremental', DEFAULT_MODELS_CONFIG, agg.paths());
  if (E.isLeft(r)) throw new Error('cannot attribute incremental');
  const credited = new Map([...r.right].map(([c, v]) => [c, v.conversions]));
  return scores(credited, new Map(t.channels.map((c) => [c.channel, c.orders])), t.orders).score;
}

interface Spread {
  readonly scenario: string;
  readonly seeds: number;
  readonly mean: number;
  readonly worst: number;
  readonly same_seed_in_process: number;
}

function spreadOf(s: Scenario, seeds: number, scale: number, seed: number): Spread {
  const xs = Array.from({ length: seeds }, (_, i) => inProcessScore(s, i + 1, scale));
  return { scenario: s.name, seeds, mean: round(xs.reduce((a, b) => a + b, 0) / seeds), worst: round(Math.max(...xs)), same_seed_in_process: round(inProcessScore(s, seed, scale)) };
}

const round = (x: number): number => Math.round(x * 1000) / 1000;
const roundOrNull = (x: number | null): number | null => (x === null ? null : round(x));

function table(rows: readonly Row[], scenarios: readonly string[]): string {
  const models = [...new Set(rows.map((r) => r.model))];
  const cell = (r: Row | undefined): string => (r === undefined ? '-' : r.score.toFixed(3));
  // a scenario where no channel causes anything is scored over all orders (tvd_orders): its header says so
  const label = (s: string): string => (rows.some((r) => r.scenario === s && r.tvd === null) ? `${s} (orders)` : s);
  const head = ['model'.padEnd(16), ...scenarios.map((s) => label(s).padStart(20)), 'worst'.padStart(8), 'goal'.padStart(5)].join(' ');
  const lines = [head];
  for (const m of models) {
    const rs = scenarios.map((s) => rows.find((r) => r.scenario === s && r.model === m));
    const worst = Math.max(...rs.map((r) => (r === undefined ? 1 : r.score)));
    lines.push([m.padEnd(16), ...rs.map((r) => cell(r).padStart(20)), worst.toFixed(3).padStart(8), (worst <= GOAL ? 'met' : '-').padStart(5)].join(' '));
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const a = benchArgs('accuracy.js', 'Every model against planted truth on every scenario (see the header of bench/accuracy.ts).', {
    scale: { type: 'number', default: 1, describe: "generate-data's scale per scenario" },
    seed: { type: 'number', default: 42, describe: "generate-data's seed" },
    keep: { type: 'string', default: '', describe: 'keep each scenario\'s data and database under this folder (default: a temporary folder, removed)' },
    spread: { type: 'number', default: 10, describe: 'seeds 1..N re-simulated in process for the sampling spread' },
  });
  const { scale, seed, keep } = a;
  const spreadSeeds = a.spread;
  const started = Date.now();
  const scenarios = SCENARIOS.filter((s) => s.name !== 'tiny');
  const rows: Row[] = [];
  for (const s of scenarios) {
    const dir = keep !== '' ? path.join(keep, s.name) : fs.mkdtempSync(path.join(os.tmpdir(), `accuracy-${s.name}-`));
    fs.mkdirSync(dir, { recursive: true });
    const t0 = Date.now();
    try {
      rows.push(...(await scenarioRows(s, dir, scale, seed)));
    } finally {
      if (keep === '') fs.rmSync(dir, { recursive: true, force: true });
    }
    process.stderr.write(`accuracy: ${s.name} done in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  }
  const names = scenarios.map((s) => s.name);
  const spread = spreadSeeds > 0 ? scenarios.map((s) => spreadOf(s, spreadSeeds, scale, seed)) : [];
  const out = path.join(ROOT, 'bench/results/accuracy.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(
    out,
    JSON.stringify(
      {
        window: WINDOW,
        scale,
        seed,
        measures: 'tvd: channel shares vs truth; tvd_orders: with the would-happen-anyway bucket; score: tvd, or tvd_orders where no channel causes anything; rho: Spearman',
        goal: `score <= ${GOAL} on every scenario`,
        rows,
        spread,
      },
      null,
      1,
    ) + '\n',
  );
  process.stdout.write(
    `TVD between credited and true channel shares (0 = perfect); "(orders)": no channel causes anything, TVD over all orders with the would-happen-anyway bucket; goal: worst <= ${GOAL}\n${table(rows, names)}\n` +
      (spread.length > 0
        ? `incremental over seeds 1..${spreadSeeds} (in process; mean / worst; this seed in process):\n` +
          spread.map((x) => `  ${x.scenario.padEnd(16)} ${x.mean.toFixed(3)} / ${x.worst.toFixed(3)}; ${x.same_seed_in_process.toFixed(3)}`).join('\n') +
          '\n'
        : '') +
      `wrote ${path.relative(ROOT, out)} in ${((Date.now() - started) / 1000).toFixed(0)} s\n`,
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`accuracy: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
