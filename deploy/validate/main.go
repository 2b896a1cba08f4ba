// Command validate reads rendered Kubernetes manifests (multi-document YAML, as `helm template`
// prints them) on stdin and decodes each one strictly into the official API types of k8s.io/api:
// an unknown or misspelt field, a duplicate field, a wrong type (a string where an integer goes),
// an unknown apiVersion/kind, all fail. This is the schema check that needs no cluster and no
// network (kubeconform fetches its schemas from GitHub at run time). Kinds that are not built into
// Kubernetes (KEDA's ScaledObject) are checked against a small list of the fields they must have.
// On success it prints the objects as one JSON array (for assertions on key fields) and exits 0.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

func main() {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{appsv1.AddToScheme, corev1.AddToScheme, policyv1.AddToScheme, autoscalingv2.AddToScheme} {
		if err := add(scheme); err != nil {
			fail("scheme: %v", err)
		}
	}
	decoder := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()

	reader := utilyaml.NewYAMLReader(bufio.NewReader(os.Stdin))
	var out []json.RawMessage
	for n := 1; ; n++ {
		doc, err := reader.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			fail("document %d: %v", n, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		js, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			fail("document %d: %v", n, err)
		}
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(js, &meta); err != nil {
			fail("document %d: %v", n, err)
		}
		where := fmt.Sprintf("document %d (%s %s %q)", n, meta.APIVersion, meta.Kind, meta.Metadata.Name)
		if meta.APIVersion == "keda.sh/v1alpha1" && meta.Kind == "ScaledObject" {
			checkScaledObject(js, where)
		} else if _, _, err := decoder.Decode(js, nil, nil); err != nil {
			fail("%s: %v", where, err)
		}
		if meta.Metadata.Name == "" {
			fail("%s: metadata.name is empty", where)
		}
		out = append(out, js)
	}
	if len(out) == 0 {
		fail("no manifests on stdin")
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fail("%v", err)
	}
}

// checkScaledObject holds KEDA's ScaledObject (keda.sh/v1alpha1) to the fields its CRD requires
// and the ones this chart sets, rejecting unknown top-level spec fields.
func checkScaledObject(js []byte, where string) {
	var so struct {
		Spec map[string]json.RawMessage `json:"spec"`
	}
	if err := json.Unmarshal(js, &so); err != nil {
		fail("%s: %v", where, err)
	}
	known := map[string]bool{"scaleTargetRef": true, "minReplicaCount": true, "maxReplicaCount": true, "pollingInterval": true, "cooldownPeriod": true, "idleReplicaCount": true, "initialCooldownPeriod": true, "advanced": true, "triggers": true, "fallback": true}
	for k := range so.Spec {
		if !known[k] {
			fail("%s: unknown field spec.%s", where, k)
		}
	}
	var spec struct {
		ScaleTargetRef struct {
			Name string `json:"name"`
		} `json:"scaleTargetRef"`
		Triggers []struct {
			Type     string            `json:"type"`
			Metadata map[string]string `json:"metadata"`
		} `json:"triggers"`
	}
	raw, _ := json.Marshal(so.Spec)
	if err := json.Unmarshal(raw, &spec); err != nil {
		fail("%s: %v", where, err)
	}
	if spec.ScaleTargetRef.Name == "" || len(spec.Triggers) == 0 {
		fail("%s: spec.scaleTargetRef.name and spec.triggers are required", where)
	}
	for i, t := range spec.Triggers {
		if t.Type == "prometheus" && (t.Metadata["serverAddress"] == "" || t.Metadata["query"] == "" || t.Metadata["threshold"] == "") {
			fail("%s: triggers[%d]: the prometheus scaler needs serverAddress, query and threshold", where, i)
		}
	}
}

// stripComments drops YAML comment lines, so a document of comments only counts as empty.
func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			b.Write(line)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "validate: "+format+"\n", args...)
	os.Exit(1)
}
