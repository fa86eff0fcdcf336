#!/usr/bin/env node
// Builds the native addon from source with cargo (release) and places it where the
// committed loader (binding.js) looks for it. This is the package's `install` script, so
// it must need nothing but Node and a Rust toolchain: a user's install has none of our
// devDependencies.
'use strict'

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.resolve(__dirname, '..')

function fail(message) {
  console.error(`samsa: ${message}`)
  process.exit(1)
}

// The file name the napi-rs loader expects for this platform (see binding.js).
function targetSuffix() {
  const { platform, arch } = process
  if (platform === 'linux') {
    const report = typeof process.report?.getReport === 'function' ? process.report.getReport() : null
    const glibc = report?.header?.glibcVersionRuntime
    return `linux-${arch}-${glibc ? 'gnu' : 'musl'}`
  }
  if (platform === 'darwin') return `darwin-${arch}`
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

const cargo = spawnSync('cargo', ['--version'], { encoding: 'utf8' })
if (cargo.error || cargo.status !== 0) {
  fail('building the native addon needs a Rust toolchain (cargo) on PATH: see https://rustup.rs, then run npm install again')
}

const targetDir = process.env.CARGO_TARGET_DIR
  ? path.resolve(process.env.CARGO_TARGET_DIR)
  : path.join(root, 'target')
console.log(`samsa: building the native addon with ${cargo.stdout.trim()} (release; the first build takes a minute or two)`)
const build = spawnSync('cargo', ['build', '--release', '--lib', '--locked', '--features', 'node'], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, CARGO_TARGET_DIR: targetDir },
})
if (build.error || build.status !== 0) fail('cargo build failed (see the output above)')

const libName = { darwin: 'libsamsa.dylib', win32: 'samsa.dll' }[process.platform] || 'libsamsa.so'
const built = path.join(targetDir, 'release', libName)
if (!fs.existsSync(built)) fail(`cargo finished but ${built} is missing`)
const dest = path.join(root, `samsa.${targetSuffix()}.node`)
// Copy to a temporary name and rename, so a process that has the old addon loaded keeps
// its mapping and never sees a half-written file.
const tmp = `${dest}.${process.pid}.tmp`
fs.copyFileSync(built, tmp)
fs.renameSync(tmp, dest)
console.log(`samsa: native addon ready at ${path.relative(root, dest)}`)
