module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/__test__'],
  testTimeout: 20000,
  // Tests spawn child processes and build a package: keep parallelism modest on 2 cores.
  maxWorkers: 2,
  // A log of the test requirements (Chromium, kcat, ...) a run skipped: __test__/requirements.js.
  globalSetup: '<rootDir>/__test__/global-setup.js',
  globalTeardown: '<rootDir>/__test__/global-teardown.js',
}
