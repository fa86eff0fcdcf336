module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/__test__'],
  testTimeout: 20000,
  // Tests spawn child processes and build a package: keep parallelism modest on 2 cores.
  maxWorkers: 2,
}
