#!/usr/bin/env bash
# Offline validation of the Helm chart deploy/helm/crossrank, no cluster and no network beyond the
# Go module proxy on a first run:
#   1. helm lint --strict (chart structure, templates, values.schema.json) for each variant;
#   2. helm template, then deploy/validate: strict decoding into the k8s.io/api types (unknown or
#      misspelt fields, wrong types, unknown kinds fail);
#   3. deploy/check.mjs: the key fields (probes, preStop, grace, init download, selectors, HPA/KEDA, GPU);
#   4. cases that must fail, so the checks above are known to bite.
# helm is built from the Go module proxy (go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION) into
# $(go env GOPATH)/bin once; later runs take seconds. Needs go >= 1.26 (helm 3.22's go.mod).
#   bash deploy/validate.sh
set -euo pipefail
cd "$(dirname "$0")/.."
HELM_VERSION=v3.22.0
# A helm built by `go install` lacks release ldflags and would assume Kubernetes 1.20: name the
# oldest version the chart supports (preStop sleep action: 1.30).
KUBE_VERSION=1.30.0
CHART=deploy/helm/crossrank

if ! command -v go >/dev/null; then
  echo "deploy/validate.sh: go is needed to build helm and the validator (https://go.dev/dl/)" >&2
  exit 1
fi
HELM="$(go env GOPATH)/bin/helm"
if ! go version -m "$HELM" 2>/dev/null | grep -Eq "mod[[:space:]]+helm.sh/helm/v3[[:space:]]+${HELM_VERSION}[[:space:]]"; then
  echo "== go install helm.sh/helm/v3/cmd/helm@${HELM_VERSION} (first run only)"
  go install "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
fi
echo "helm ${HELM_VERSION} ($HELM), Kubernetes ${KUBE_VERSION} assumed"

mkdir -p build/deploy
(cd deploy/validate && go build -o ../../build/deploy/validate .)
VALIDATE=build/deploy/validate

declare -A VARIANTS=(
  [default]=""
  [cuda]="-f $CHART/values-cuda.yaml"
  [keda]="--set autoscaling.provider=keda --set model.hubEnv.HF_ENDPOINT=https://hf-mirror.example"
  [plain]="--set autoscaling.enabled=false --set podDisruptionBudget.enabled=false --set cache.existingClaim=hf-cache --set preStopSleepAction=false"
)
for variant in default cuda keda plain; do
  # shellcheck disable=SC2086
  args=${VARIANTS[$variant]}
  echo "== $variant: helm lint --strict, helm template, strict decode, key fields"
  # shellcheck disable=SC2086
  "$HELM" lint --strict --kube-version "$KUBE_VERSION" "$CHART" $args >/dev/null
  # shellcheck disable=SC2086
  "$HELM" template rr "$CHART" --kube-version "$KUBE_VERSION" --namespace rerank $args >"build/deploy/$variant.yaml"
  "$VALIDATE" <"build/deploy/$variant.yaml" >"build/deploy/$variant.json"
  node deploy/check.mjs "$variant" "build/deploy/$variant.json"
done

echo "== cases that must fail"
must_fail() {
  local what=$1; shift
  if "$@" >/dev/null 2>&1; then echo "not rejected: $what" >&2; exit 1; fi
  echo "rejected, as it should be: $what"
}
must_fail "values: serve.device=tpu (values.schema.json)" "$HELM" lint --strict --kube-version "$KUBE_VERSION" "$CHART" --set serve.device=tpu
must_fail "values: a misspelt key serve.drainDelay (values.schema.json)" "$HELM" lint --strict --kube-version "$KUBE_VERSION" "$CHART" --set serve.drainDelay=3
sed 's/terminationGracePeriodSeconds:/terminationGracePeriod:/' build/deploy/default.yaml >build/deploy/bad-field.yaml
must_fail "manifest: unknown field terminationGracePeriod" "$VALIDATE" <build/deploy/bad-field.yaml
sed 's/containerPort: 8080/containerPort: "8080"/' build/deploy/default.yaml >build/deploy/bad-type.yaml
must_fail "manifest: containerPort as a string" "$VALIDATE" <build/deploy/bad-type.yaml
sed 's#/ready#/live#' build/deploy/default.json >build/deploy/bad-probe.json
must_fail "check: readiness on /live" node deploy/check.mjs default build/deploy/bad-probe.json
echo "deploy/validate.sh: all checks passed"
