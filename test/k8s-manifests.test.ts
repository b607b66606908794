/**
 * Static checks of the kustomize tree in k8s/ (no cluster needed): every listed resource exists
 * and parses, images are pinned, config and secret references resolve, services select pods that
 * exist, containers have probes and resource requests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

interface Resource {
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

interface Container {
  name: string;
  image: string;
  envFrom?: { secretRef?: { name: string }; configMapRef?: { name: string } }[];
  env?: { name: string; valueFrom?: { secretKeyRef?: { name: string; key: string }; configMapKeyRef?: { name: string; key: string } } }[];
  livenessProbe?: unknown;
  readinessProbe?: unknown;
  resources?: { requests?: Record<string, string> };
}

/** Resolves a kustomization folder to its resources, following nested bases. */
function loadKustomization(dir: string): Resource[] {
  const file = join(dir, 'kustomization.yaml');
  assert.ok(existsSync(file), `${file} exists`);
  const k = parseAllDocuments(readFileSync(file, 'utf8'))[0]!.toJS() as { resources?: string[] };
  const out: Resource[] = [];
  for (const entry of k.resources ?? []) {
    const path = join(dir, entry);
    assert.ok(existsSync(path), `${file} lists ${entry}, which exists`);
    if (existsSync(join(path, 'kustomization.yaml'))) out.push(...loadKustomization(path));
    else for (const doc of parseAllDocuments(readFileSync(path, 'utf8'))) {
      assert.equal(doc.errors.length, 0, `${path}: ${doc.errors.join('; ')}`);
      const r = doc.toJS() as Resource | null;
      if (r) out.push(r);
    }
  }
  return out;
}

function podSpecOf(r: Resource): { containers: Container[]; labels: Record<string, string> } | undefined {
  const spec = r.spec as { template?: { metadata?: { labels?: Record<string, string> }; spec: { containers: Container[] } } } | undefined;
  if (!spec?.template) return undefined;
  return { containers: spec.template.spec.containers, labels: spec.template.metadata?.labels ?? {} };
}

for (const overlay of ['k8s/base', 'k8s/overlays/dev']) {
  test(`${overlay}: resources parse, images are pinned, references resolve`, () => {
    const resources = loadKustomization(join(root, overlay));
    assert.ok(resources.length > 0);
    const byKind = (kind: string) => resources.filter((r) => r.kind === kind);
    const configMaps = new Map(byKind('ConfigMap').map((r) => [r.metadata.name, r.data ?? {}]));
    const secrets = new Map(byKind('Secret').map((r) => [r.metadata.name, { ...(r.data ?? {}), ...(r.stringData ?? {}) }]));
    const workloads = resources.filter((r) => podSpecOf(r));
    assert.ok(workloads.some((r) => r.kind === 'StatefulSet' && r.metadata.name === 'minio'), 'MinIO StatefulSet present');

    for (const w of workloads) {
      const { containers } = podSpecOf(w)!;
      for (const c of containers) {
        const where = `${w.kind}/${w.metadata.name}/${c.name}`;
        assert.match(c.image, /:[^:@/]+$|@sha256:/, `${where}: image has a tag`);
        assert.doesNotMatch(c.image, /:latest$/, `${where}: image is not :latest`);
        for (const src of c.envFrom ?? []) {
          if (src.secretRef) assert.ok(secrets.has(src.secretRef.name), `${where}: secret ${src.secretRef.name} exists`);
          if (src.configMapRef) assert.ok(configMaps.has(src.configMapRef.name), `${where}: configmap ${src.configMapRef.name} exists`);
        }
        for (const e of c.env ?? []) {
          const cm = e.valueFrom?.configMapKeyRef;
          if (cm) assert.ok(configMaps.get(cm.name)?.[cm.key] !== undefined, `${where}: ${cm.name}.${cm.key} exists`);
          const sk = e.valueFrom?.secretKeyRef;
          if (sk) assert.ok(secrets.get(sk.name)?.[sk.key] !== undefined, `${where}: ${sk.name}.${sk.key} exists`);
        }
        if (w.kind !== 'Job') {
          assert.ok(c.livenessProbe && c.readinessProbe, `${where}: has liveness and readiness probes`);
          assert.ok(c.resources?.requests?.['cpu'] && c.resources.requests['memory'], `${where}: has resource requests`);
        }
      }
    }
    for (const svc of byKind('Service')) {
      const selector = (svc.spec as { selector?: Record<string, string> }).selector ?? {};
      const matches = workloads.filter((w) => Object.entries(selector).every(([k, v]) => podSpecOf(w)!.labels[k] === v));
      assert.ok(matches.length > 0, `Service/${svc.metadata.name} selects a workload`);
    }
  });
}

test('MinIO probes use its health endpoints and the services config points at it', () => {
  const resources = loadKustomization(join(root, 'k8s/base'));
  const minio = resources.find((r) => r.kind === 'StatefulSet' && r.metadata.name === 'minio')!;
  const c = podSpecOf(minio)!.containers[0] as Container & { livenessProbe: { httpGet: { path: string } }; readinessProbe: { httpGet: { path: string } } };
  assert.equal(c.livenessProbe.httpGet.path, '/minio/health/live');
  assert.equal(c.readinessProbe.httpGet.path, '/minio/health/ready');
  const config = resources.find((r) => r.kind === 'ConfigMap' && r.metadata.name === 'weightsmith-config')!.data!;
  assert.equal(config['WEIGHTSMITH_STORE'], 's3');
  assert.match(config['S3_ENDPOINT']!, /^http:\/\/minio\./);
});

test('every service Deployment probes /healthz and /readyz, has an HPA and a PDB, and a grace period above its drain time', () => {
  const resources = loadKustomization(join(root, 'k8s/base'));
  const deployments = resources.filter((r) => r.kind === 'Deployment');
  assert.ok(deployments.length > 0);
  for (const d of deployments) {
    const name = d.metadata.name;
    const spec = d.spec as { template: { spec: { terminationGracePeriodSeconds?: number; containers: (Container & { livenessProbe: { httpGet: { path: string } }; readinessProbe: { httpGet: { path: string } }; args?: string[] })[] } } };
    const c = spec.template.spec.containers[0]!;
    assert.equal(c.livenessProbe.httpGet.path, '/healthz', name);
    assert.equal(c.readinessProbe.httpGet.path, '/readyz', name);
    assert.ok(existsSync(join(root, c.args![0]!)), `${name}: entry ${c.args![0]} exists`);
    assert.ok((spec.template.spec.terminationGracePeriodSeconds ?? 30) >= 40, `${name}: grace period covers the 25 s HTTP + 10 s job drain`);
    assert.ok(resources.some((r) => r.kind === 'HorizontalPodAutoscaler' && (r.spec as { scaleTargetRef: { name: string } }).scaleTargetRef.name === name), `${name}: HPA`);
    assert.ok(resources.some((r) => r.kind === 'PodDisruptionBudget' && r.metadata.name === name), `${name}: PDB`);
  }
});
