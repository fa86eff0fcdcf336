'use strict'

// The LD_PRELOAD shim of fixtures/eio-shim.c, built with gcc (a test requirement): child
// processes run under it record every fsync-like call with the thread that made it, and
// fail them with EIO while a trigger file exists.

const fs = require('node:fs')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const requires = require('./requirements')
const { tempDir } = require('./helpers')

const gcc = requires.debianPackage({ name: 'gcc', binary: 'gcc' })

let built = null

/** Builds the shim once per test file; returns its path. */
function buildShim() {
  if (!built) {
    built = path.join(tempDir('samsa-sync-shim-'), 'shim.so')
    execFileSync(gcc.path, ['-shared', '-fPIC', '-O2', '-o', built, path.join(__dirname, 'fixtures', 'eio-shim.c'), '-ldl'], {
      stdio: 'pipe',
      timeout: 60000,
    })
  }
  return built
}

/** The calls a shim log recorded, one "<function> <thread> ok|EIO|err" each. */
function shimCalls(log) {
  return fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n').filter(Boolean) : []
}

module.exports = { gcc, buildShim, shimCalls }
