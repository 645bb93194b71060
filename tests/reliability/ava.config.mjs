// The reliability suite: not part of the normal `npx ava` glob (dist/tests/**/*.test.js), run by `make reliability`.
export default {
  files: ['dist/tests/reliability/**/*.rel.js'],
  timeout: '10m',
  workerThreads: false,
  concurrency: 1,
};
