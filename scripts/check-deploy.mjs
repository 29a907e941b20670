// Checks that no tool does for the deployment files, run by test/unit/deploy.test.ts (with --json) and directly:
//
//   node scripts/check-deploy.mjs             every check below; exit 1 if one fails
//   node scripts/check-deploy.mjs --json      the same, as one JSON object on stdout
//
// Checks: every YAML file under deploy/ and envoy/ parses (all documents); Kubernetes documents under deploy/
// have apiVersion, kind and metadata.name, and kustomization resources exist; docker-compose build contexts
// hold a Dockerfile; every WAKER_* name in deploy/, envoy/, the Dockerfile and docs/operations.md is a real
// setting (src/config/settings.ts); the metric names, log events and admin routes named in
// docs/operations.md exist in src/.
//
// The Dockerfile itself is not checked here: `npm test` builds it for real (scripts/docker.mjs, from a
// locally built base image) and test/e2e/docker-image.test.ts runs the image beside a containerized Envoy.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';

const root = resolve(import.meta.dirname, '..');
const args = new Set(process.argv.slice(2));
const results = [];

function check(name, fn) {
  try {
    const detail = fn();
    results.push({ name, ok: true, detail: detail ?? '' });
  } catch (err) {
    results.push({ name, ok: false, detail: err instanceof Error ? err.message : String(err) });
  }
}

function fail(message) {
  throw new Error(message);
}

const read = (rel) => readFileSync(join(root, rel), 'utf8');
const rel = (abs) => relative(root, abs).split('\\').join('/');

function walk(dir, accept) {
  const out = [];
  if (!existsSync(dir)) return out;
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(path, accept));
    else if (accept(entry.name)) out.push(path);
  }
  return out;
}

// ---- facts from the code ---------------------------------------------------------------------------

const settingsSource = read('src/config/settings.ts');
const SETTINGS_ENV = new Map(
  [...settingsSource.matchAll(/env: '(WAKER_[A-Z0-9_]+)'(?:, flag: '[a-z-]+')?(?:, defaultText: '([^']*)')?/g)].map((m) => [m[1], m[2]]),
);
const METRICS = new Set([...read('src/metrics.ts').matchAll(/name: '(faas_waker_[a-z_]+)'/g)].map((m) => m[1]));
/** %RESPONSE_CODE_DETAILS% of faas-waker's answers (errors.ts prefixes them with faas_waker_): not metrics. */
const DETAILS = new Set(
  [...read('src/errors.ts').matchAll(/answer\(\d{3}, '[a-z_]+', '[^']*', '([a-z_]+)'/g)].map((m) => `faas_waker_${m[1]}`),
);
const EVENTS = new Set(
  walk(join(root, 'src'), (n) => n.endsWith('.ts'))
    .filter((f) => !rel(f).startsWith('src/gen/'))
    .flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/event: '([a-z][a-z.]*)'/g)].map((m) => m[1])),
);
const routesSource = read('src/admin/routes.ts');
const ADMIN_PATHS = new Set([
  ...[...routesSource.matchAll(/pathname [!=]== '(\/[a-z]+)'/g)].map((m) => m[1]),
  ...[...routesSource.matchAll(/pathname\.startsWith\('(\/[a-z]+\/)'\)/g)].map((m) => m[1]),
]);

// ---- YAML ------------------------------------------------------------------------------------------

const yamlFiles = [...walk(join(root, 'deploy'), (n) => /\.ya?ml$/.test(n)), ...walk(join(root, 'envoy'), (n) => /\.ya?ml$/.test(n))];
const parsed = new Map();
for (const file of yamlFiles) {
  check(`yaml parses: ${rel(file)}`, () => {
    const text = readFileSync(file, 'utf8');
    const docs = parseAllDocuments(text, { prettyErrors: true });
    const list = Array.isArray(docs) ? docs : [docs];
    const problems = list.flatMap((d) => [...d.errors, ...d.warnings]).map((e) => e.message.split('\n')[0]);
    if (problems.length > 0) fail(problems.join('; '));
    const values = list.map((d) => d.toJS()).filter((v) => v !== null && v !== undefined);
    parsed.set(file, values);
    return `${values.length} document(s)`;
  });
}

// deploy/kubernetes is validated by a real API server (test/kube/manifests.test.ts, server-side dry
// run); Envoy Gateway's objects need its CRDs, so they, and every kustomization's file list, are checked here.
for (const [file, docs] of parsed) {
  if (!rel(file).startsWith('deploy/envoy-gateway/') && !rel(file).endsWith('kustomization.yaml')) continue;
  check(`kubernetes objects are complete: ${rel(file)}`, () => {
    docs.forEach((doc, i) => {
      const where = `document ${i + 1}`;
      if (typeof doc !== 'object' || Array.isArray(doc)) fail(`${where}: not a mapping`);
      if (typeof doc.apiVersion !== 'string' || typeof doc.kind !== 'string') fail(`${where}: apiVersion and kind are required`);
      if (doc.kind === 'Kustomization') {
        for (const resource of doc.resources ?? []) {
          if (!existsSync(join(dirname(file), resource))) fail(`resource ${resource} does not exist`);
        }
      } else if (typeof doc.metadata?.name !== 'string') fail(`${where} (${doc.kind}): metadata.name is required`);
    });
    return docs.map((d) => d.kind).join(', ');
  });
}

check('docker-compose build contexts hold the Dockerfile they name', () => {
  const found = [];
  for (const [file, docs] of parsed) {
    for (const doc of docs) {
      for (const [name, service] of Object.entries(doc?.services ?? {})) {
        if (service?.build === undefined) continue;
        const build = typeof service.build === 'string' ? { context: service.build } : service.build;
        const dockerfile = join(dirname(file), build.context ?? '.', build.dockerfile ?? 'Dockerfile');
        if (!existsSync(dockerfile)) fail(`${rel(file)}: service ${name} builds ${rel(dockerfile)}, which does not exist`);
        found.push(`${name} -> ${rel(dockerfile)}`);
      }
    }
  }
  return found.join(', ') || 'no build sections';
});

// ---- names shared with the code ---------------------------------------------------------------------

check('WAKER_* names in deploy/, envoy/, Dockerfile and docs are real settings', () => {
  const files = [...yamlFiles, join(root, 'Dockerfile'), join(root, 'docs', 'operations.md')].filter((f) => existsSync(f));
  const unknown = [];
  for (const file of files) {
    for (const m of readFileSync(file, 'utf8').matchAll(/\bWAKER_[A-Z0-9_]*[A-Z0-9]\b/g)) {
      if (!SETTINGS_ENV.has(m[0])) unknown.push(`${rel(file)}: ${m[0]}`);
    }
  }
  if (unknown.length > 0) fail(`not in src/config/settings.ts: ${[...new Set(unknown)].join(', ')}`);
  return `${SETTINGS_ENV.size} settings known`;
});

check('docs/operations.md names only metrics, events and admin routes that exist', () => {
  const docPath = join(root, 'docs', 'operations.md');
  if (!existsSync(docPath)) fail('docs/operations.md is missing');
  const doc = readFileSync(docPath, 'utf8');
  const problems = [];
  const mentioned = new Set([...doc.matchAll(/\bfaas_waker_[a-z_]*[a-z]\b/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, '')));
  for (const name of mentioned) if (!METRICS.has(name) && !DETAILS.has(name)) problems.push(`unknown metric or response detail ${name}`);
  for (const name of METRICS) if (!mentioned.has(name)) problems.push(`metric ${name} is not documented`);
  const events = new Set([...doc.matchAll(/`((?:wake|request|refresh|shutdown)\.[a-z]+)`/g)].map((m) => m[1]));
  for (const e of events) if (!EVENTS.has(e)) problems.push(`unknown log event ${e}`);
  for (const e of EVENTS) if (!doc.includes(`\`${e}\``)) problems.push(`log event ${e} is not documented`);
  for (const m of doc.matchAll(/\b(?:GET|POST) :?\d*(\/[a-z]+\/?)/g)) {
    const path = m[1];
    if (!ADMIN_PATHS.has(path) && !ADMIN_PATHS.has(`${path.replace(/\/$/, '')}/`)) problems.push(`unknown admin route ${path}`);
  }
  for (const p of ADMIN_PATHS) if (!doc.includes(p)) problems.push(`admin route ${p} is not documented`);
  if (problems.length > 0) fail(problems.join('; '));
  return `${METRICS.size} metrics, ${EVENTS.size} events, ${ADMIN_PATHS.size} admin routes`;
});

// ---- report ----------------------------------------------------------------------------------------

const ok = results.every((r) => r.ok);
if (args.has('--json')) {
  process.stdout.write(`${JSON.stringify({ ok, checks: results }, null, 2)}\n`);
} else {
  for (const r of results) console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name}${r.detail ? `: ${r.detail}` : ''}`);
  console.log(
    ok
      ? `\ncheck-deploy: all ${results.length} checks passed`
      : `\ncheck-deploy: ${results.filter((r) => !r.ok).length} of ${results.length} checks failed`,
  );
}
process.exitCode = ok ? 0 : 1;
