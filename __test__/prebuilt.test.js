'use strict'

// A release as a user meets it: scripts/pack-release.js packs the platform package
// (samsa-linux-x64-gnu, the prebuilt addon) and the main package (whose package.json then
// lists the platform package in optionalDependencies); a local registry serves both
// tarballs, and `npm install samsa` runs in a fresh project on a PATH without cargo. npm
// picks the platform package, the install script finds that its addon loads and builds
// nothing, and the app sends and consumes a message. The source-build fallback, which
// needs a cold cargo build, is in package.test.js.

const crypto = require('node:crypto')
const fs = require('node:fs')
const http = require('node:http')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const { tempDir } = require('./helpers')
const { packRelease, cleanEnv, pathWithoutCargo, run, freshProject, sizeKiB, sendAndConsume, seconds, mib } = require('./install-helpers')

/**
 * The smallest npm registry that `npm install` accepts: a packument per package and its
 * tarball, for the tarballs given; everything else is a 404. Records what was asked for.
 */
async function startRegistry(tarballs) {
  const packages = new Map()
  for (const file of tarballs) {
    const manifest = JSON.parse(execFileSync('tar', ['-xzOf', file, 'package/package.json'], { encoding: 'utf8' }))
    const data = fs.readFileSync(file)
    packages.set(manifest.name, {
      manifest,
      data,
      integrity: `sha512-${crypto.createHash('sha512').update(data).digest('base64')}`,
      shasum: crypto.createHash('sha1').update(data).digest('hex'),
    })
  }
  const requests = []
  const server = http.createServer((req, res) => {
    const url = decodeURIComponent(req.url.split('?')[0]).replace(/^\/+/, '')
    requests.push(url)
    const base = `http://127.0.0.1:${server.address().port}`
    const tarball = /^(.+)\/-\/[^/]+\.tgz$/.exec(url)
    const p = packages.get(tarball ? tarball[1] : url)
    if (!p) {
      res.writeHead(404, { 'content-type': 'application/json' })
      return res.end(JSON.stringify({ error: 'Not found' }))
    }
    if (tarball) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': p.data.length })
      return res.end(p.data)
    }
    const { name, version } = p.manifest
    const dist = { tarball: `${base}/${name}/-/${name}-${version}.tgz`, integrity: p.integrity, shasum: p.shasum }
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ name, 'dist-tags': { latest: version }, versions: { [version]: { ...p.manifest, _id: `${name}@${version}`, dist } } }))
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${server.address().port}/`, requests, close: () => new Promise((r) => server.close(r)) }
}

let release
beforeAll(async () => {
  // Builds the addon first (incremental in the checkout's target/), as a release would.
  release = await packRelease()
}, 15 * 60 * 1000)

test('the packed packages: the platform package holds only the addon, with os/cpu/libc; the main package lists it as optional', () => {
  const list = (file) => execFileSync('tar', ['-tzf', file], { encoding: 'utf8' }).trim().split('\n').sort()
  expect(list(release.platform)).toEqual(['package/README.md', 'package/package.json', 'package/samsa.linux-x64-gnu.node'])
  const platform = JSON.parse(execFileSync('tar', ['-xzOf', release.platform, 'package/package.json'], { encoding: 'utf8' }))
  expect(platform).toMatchObject({
    name: 'samsa-linux-x64-gnu',
    version: release.version,
    main: 'samsa.linux-x64-gnu.node',
    os: ['linux'],
    cpu: ['x64'],
    libc: ['glibc'],
  })
  const main = JSON.parse(execFileSync('tar', ['-xzOf', release.main, 'package/package.json'], { encoding: 'utf8' }))
  expect(main.optionalDependencies).toEqual({ 'samsa-linux-x64-gnu': release.version })
  expect(list(release.main).filter((f) => f.endsWith('.node'))).toEqual([])
  // The repository's package.json stays without them: a checkout builds from source.
  const repo = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8'))
  expect(repo.optionalDependencies).toBeUndefined()
})

test('npm install samsa without cargo on PATH takes the prebuilt addon; send and consume work', async () => {
  const registry = await startRegistry([release.main, release.platform])
  try {
    const PATH = pathWithoutCargo()
    const { app, npmArgs } = freshProject()
    const env = cleanEnv({ PATH })
    const r = await run('npm', ['install', ...npmArgs, '--registry', registry.url, 'samsa'], { cwd: app, env })
    if (r.code !== 0) throw new Error(`npm install failed (${r.code})\n${r.stdout}\n${r.stderr}`)
    // npm fetched the platform package because the main package lists it.
    expect(registry.requests).toEqual(expect.arrayContaining(['samsa', 'samsa-linux-x64-gnu']))
    expect(r.stdout).toContain(`samsa: using the prebuilt addon samsa-linux-x64-gnu@${release.version} (no build needed)`)
    expect(r.stdout + r.stderr).not.toMatch(/building it from source/)

    const installed = path.join(app, 'node_modules', 'samsa')
    const platformDir = path.join(app, 'node_modules', 'samsa-linux-x64-gnu')
    expect(fs.readdirSync(installed).filter((f) => f.endsWith('.node'))).toEqual([])
    expect(fs.existsSync(path.join(installed, 'target'))).toBe(false)
    expect(fs.existsSync(path.join(platformDir, 'samsa.linux-x64-gnu.node'))).toBe(true)

    const out = await sendAndConsume(app, { PATH })
    expect(out.stderr).toBe('')
    expect(out.stdout).toMatch(/^sent to partition [0-3] offset 0$/m)
    expect(out.stdout).toMatch(/^consumed rider-42 \{"lat":1,"lng":2\} from partition [0-3] offset 0$/m)

    const kib = sizeKiB(installed)
    const platformKiB = sizeKiB(platformDir)
    console.log(
      `prebuilt path: npm install took ${seconds(r.ms)}; node_modules/samsa ${mib(kib)} ` +
        `+ node_modules/samsa-linux-x64-gnu ${mib(platformKiB)} = ${mib(kib + platformKiB)}`
    )
  } finally {
    await registry.close()
  }
}, 120000)

test('a prebuilt addon that needs a newer glibc, and no cargo: the install fails and says why in one line', async () => {
  // The platform package with its addon asking for a glibc that does not exist yet (the
  // newest GLIBC_x.y symbol version it needs renamed to 9.99), as on a machine whose glibc
  // is older than the one the addon was built against.
  const dir = tempDir('samsa-broken-')
  execFileSync('tar', ['-xzf', release.platform, '-C', dir])
  const addon = path.join(dir, 'package', 'samsa.linux-x64-gnu.node')
  const bytes = fs.readFileSync(addon).toString('latin1')
  const versions = [...new Set([...bytes.matchAll(/GLIBC_(\d+\.\d+)\0/g)].map((m) => m[1]))]
  const newest = versions.sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).pop()
  fs.writeFileSync(addon, Buffer.from(bytes.split(`GLIBC_${newest}\0`).join(`GLIBC_${newest.replace(/\d/g, '9')}\0`), 'latin1'))
  const broken = execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: path.join(dir, 'package'), encoding: 'utf8', env: cleanEnv() })
    .trim()
    .split('\n')
    .pop()
  const registry = await startRegistry([release.main, path.join(dir, broken)])
  try {
    const { app, npmArgs } = freshProject()
    const r = await run('npm', ['install', ...npmArgs, '--registry', registry.url, 'samsa'], { cwd: app, env: cleanEnv({ PATH: pathWithoutCargo() }) })
    expect(r.code).not.toBe(0)
    const line = (r.stdout + r.stderr).split('\n').find((l) => l.startsWith('samsa: '))
    expect(line).toMatch(/^samsa: the prebuilt addon samsa-linux-x64-gnu@[\d.]+ does not load here \(.*version `GLIBC_9\.99' not found.*\), and building the native addon from source needs a Rust toolchain/)
  } finally {
    await registry.close()
  }
}, 120000)
