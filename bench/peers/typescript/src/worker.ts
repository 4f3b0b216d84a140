// The TypeScript SDK peer worker of the benchmarks (bench/peers/README.md):
//
//   worker.js --task-queue Q [--cache N]
//
// Server from TEMPORAL_ADDRESS (host:port, plain TCP) and TEMPORAL_NAMESPACE
// (default "default"). --cache N is maxCachedWorkflows; everything else is the
// SDK's default. Prints "ready" on stdout once the worker polls; logs (WARN
// and above) go to stderr. SIGTERM/SIGINT: the SDK's graceful shutdown, exit 0.
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import * as activities from './activities';

function usage(msg: string): never {
  process.stderr.write(`worker: ${msg}\nusage: worker.js --task-queue Q [--cache N]\n`);
  process.exit(2);
}

async function main(): Promise<number> {
  let values: { 'task-queue'?: string; cache?: string };
  try {
    ({ values } = parseArgs({
      options: {
        'task-queue': { type: 'string' },
        cache: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    usage((err as Error).message);
  }
  const taskQueue = values['task-queue'];
  if (!taskQueue) usage('--task-queue is required');
  let maxCachedWorkflows: number | undefined;
  if (values.cache !== undefined) {
    if (!/^\d+$/.test(values.cache)) usage(`--cache: not a number: ${values.cache}`);
    maxCachedWorkflows = Number(values.cache);
  }
  const address = process.env.TEMPORAL_ADDRESS || 'localhost:7233';
  const namespace = process.env.TEMPORAL_NAMESPACE || 'default';

  // SDK and Core logs both go to the TS logger, which writes to stderr, so
  // stdout carries only "ready". Metrics stay off (the default).
  Runtime.install({
    logger: new DefaultLogger('WARN'),
    telemetryOptions: {
      logging: { filter: { core: 'WARN', other: 'ERROR' }, forward: {} },
    },
  });

  const connection = await NativeConnection.connect({ address });
  try {
    const worker = await Worker.create({
      connection,
      namespace,
      taskQueue,
      workflowBundle: { codePath: path.join(__dirname, '..', 'workflow-bundle.js') },
      activities,
      ...(maxCachedWorkflows !== undefined ? { maxCachedWorkflows } : {}),
    });
    // run() starts the pollers before its first await; stdout writes are
    // synchronous on Linux (pipes and files), so "ready" is flushed here.
    const running = worker.run();
    process.stdout.write('ready\n');
    await running;
  } finally {
    await connection.close();
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`worker: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
