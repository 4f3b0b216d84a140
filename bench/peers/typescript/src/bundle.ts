// Bundles the workflow code once at install time (bench/peers/typescript/
// bootstrap), so the worker loads it with workflowBundle.codePath and its
// start-up does not include webpack.
//
//   node lib/bundle.js OUTPUT.js
import { writeFile } from 'node:fs/promises';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';

async function main(): Promise<void> {
  const out = process.argv[2];
  if (!out) {
    throw new Error('usage: bundle.js OUTPUT.js');
  }
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('./workflows'),
    logger: new DefaultLogger('WARN'),
  });
  await writeFile(out, code);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
