#!/usr/bin/env node
// Asserts the behaviour the fleet test measured on the objects `helm template` rendered (as JSON,
// from deploy/validate): probes on the draining-aware endpoints, a preStop pause, a termination
// grace above preStop + --drain-delay + --grace, an init download of the same model into the
// cache volume the server reads offline, the Service/PDB/HPA selecting the Deployment's pods.
//   node deploy/check.mjs VARIANT RENDERED.json     (VARIANT: default | cuda | keda | plain)
import { readFileSync } from 'node:fs';

const [variant, file] = process.argv.slice(2);
const objects = JSON.parse(readFileSync(file, 'utf8'));
const failures = [];
const check = (ok, what) => {
  if (!ok) failures.push(what);
};
const one = (kind) => {
  const found = objects.filter((o) => o.kind === kind);
  check(found.length === 1, `one ${kind} (found ${found.length})`);
  return found[0];
};
const flag = (args, name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const sameLabels = (selector, labels) => Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v) && Object.keys(selector ?? {}).length > 0;

const deploy = one('Deployment');
const pod = deploy.spec.template.spec;
const labels = deploy.spec.template.metadata.labels;
const main = pod.containers.find((c) => c.name === 'crossrank');
const init = pod.initContainers?.find((c) => c.name === 'download-model');
check(main && init, 'a crossrank container and a download-model init container');
const args = main.args;
const env = Object.fromEntries((main.env ?? []).map((e) => [e.name, e.value]));
const initEnv = Object.fromEntries((init.env ?? []).map((e) => [e.name, e.value]));

// Probes: readiness is the endpoint that turns 503 on SIGTERM and while loading; liveness stays 200.
check(main.readinessProbe?.httpGet?.path === '/ready', 'readiness probe on /ready');
check(main.livenessProbe?.httpGet?.path === '/live', 'liveness probe on /live');
const httpPort = main.ports.find((p) => p.name === 'http')?.containerPort;
check(String(httpPort) === flag(args, '--port'), 'containerPort "http" is the --port served');
check(main.readinessProbe.httpGet.port === 'http' && main.livenessProbe.httpGet.port === 'http', 'probes on the http port');

// Stop sequence: preStop pause, then SIGTERM -> --drain-delay -> --grace, all inside the grace period.
const preStop = main.lifecycle?.preStop;
const pause = preStop?.sleep?.seconds ?? Number(preStop?.exec?.command?.[1]);
check(Number.isInteger(pause) && pause > 0, 'a preStop pause (sleep action or exec sleep)');
const drainDelay = Number(flag(args, '--drain-delay'));
const grace = Number(flag(args, '--grace'));
check(Number.isFinite(drainDelay) && Number.isFinite(grace) && grace > 0, '--drain-delay and --grace set');
check(pod.terminationGracePeriodSeconds > pause + drainDelay + grace, `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} > preStop ${pause} + drain delay ${drainDelay} + grace ${grace}`);
check(deploy.spec.strategy.rollingUpdate.maxUnavailable === 0, 'rolling update keeps every old pod until a new one is ready (maxUnavailable 0)');

// The model: downloaded by the init step into the volume the server reads, with the same file choice.
for (const f of ['--model', '--revision', '--device', '--precision']) check(flag(init.command, f) === flag(args, f), `init and server agree on ${f}`);
check(init.command.includes('download'), 'the init step runs `crossrank download`');
check(env.HF_HOME && env.HF_HOME === initEnv.HF_HOME, 'HF_HOME is the same in init and server');
check(env.HF_HUB_OFFLINE === '1', 'the server reads the cache offline (HF_HUB_OFFLINE=1)');
const mount = (c) => c.volumeMounts.find((m) => m.name === 'hf-cache')?.mountPath;
check(mount(main) === env.HF_HOME && mount(init) === env.HF_HOME, 'the hf-cache volume is mounted at HF_HOME in both');
check(pod.volumes.some((v) => v.name === 'hf-cache' && (v.emptyDir || v.persistentVolumeClaim)), 'hf-cache is an emptyDir or a claim');
check(main.resources?.requests?.cpu && main.resources?.requests?.memory, 'cpu and memory requests');

// Who selects the pods.
const svc = one('Service');
check(sameLabels(svc.spec.selector, labels), 'the Service selects the pods');
check(svc.spec.ports[0].targetPort === 'http', 'the Service targets the http port');
const pdbs = objects.filter((o) => o.kind === 'PodDisruptionBudget');
if (variant !== 'plain') check(pdbs.length === 1 && sameLabels(pdbs[0].spec.selector.matchLabels, labels), 'a PodDisruptionBudget over the pods');

const hpas = objects.filter((o) => o.kind === 'HorizontalPodAutoscaler');
const scaled = objects.filter((o) => o.kind === 'ScaledObject');
if (variant === 'keda') {
  check(hpas.length === 0 && scaled.length === 1, 'KEDA: a ScaledObject and no HPA of our own');
  const t = scaled[0]?.spec.triggers[0];
  check(scaled[0]?.spec.scaleTargetRef.name === deploy.metadata.name, 'the ScaledObject scales the Deployment');
  check(t?.type === 'prometheus' && /te_queue_size/.test(t.metadata.query) && !/{{/.test(t.metadata.query), 'a prometheus trigger on te_queue_size, template expanded');
  check(deploy.spec.replicas === undefined, 'no fixed replicas while autoscaled');
} else if (variant === 'plain') {
  check(hpas.length === 0 && scaled.length === 0 && pdbs.length === 0, 'no autoscaler, no PDB');
  check(deploy.spec.replicas >= 1, 'fixed replicas without autoscaling');
} else {
  check(hpas.length === 1 && scaled.length === 0, 'an HPA');
  const m = hpas[0]?.spec.metrics[0];
  check(m?.type === 'Pods' && m.pods.metric.name === 'te_queue_size' && m.pods.target.type === 'AverageValue', 'the HPA scales on te_queue_size per pod');
  check(hpas[0]?.spec.scaleTargetRef.name === deploy.metadata.name && hpas[0]?.spec.scaleTargetRef.kind === 'Deployment', 'the HPA scales the Deployment');
  check(deploy.spec.replicas === undefined, 'no fixed replicas while autoscaled');
}
if (variant === 'cuda') {
  check(main.resources.limits?.['nvidia.com/gpu'] === 1, 'one GPU per replica (limits nvidia.com/gpu: 1)');
  check(flag(args, '--device') === 'cuda' && flag(init.command, '--device') === 'cuda', '--device cuda in server and init');
  check(pod.tolerations?.some((t) => t.key === 'nvidia.com/gpu'), 'tolerates GPU node taints');
} else {
  check(!main.resources.limits?.['nvidia.com/gpu'], 'no GPU on the CPU variants');
}

if (failures.length) {
  console.error(`deploy/check ${variant}: ${failures.length} failed\n  - ${failures.join('\n  - ')}`);
  process.exit(1);
}
console.log(`deploy/check ${variant}: ${objects.length} objects (${objects.map((o) => o.kind).join(', ')}) ok`);
