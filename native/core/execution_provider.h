// Where a session runs: the CPU, or a CUDA GPU through ONNX Runtime's CUDA plugin execution
// provider (a shared library registered with the environment, then appended with the V2 API on
// the CUDA OrtEpDevice). 'auto' tries CUDA and falls back to the CPU, saying why.
#pragma once

#include <string>
#include <vector>

struct OrtEpDevice;

namespace Ort {
struct Env;
struct SessionOptions;
}  // namespace Ort

namespace crossrank {

enum class DeviceKind { Cpu, Cuda, Auto };

struct DeviceRequest {
  DeviceKind kind = DeviceKind::Cpu;
  int device_id = 0;                // which CUDA device, in the order ONNX Runtime lists them
  std::string cuda_provider_path;   // libonnxruntime_providers_cuda.so; empty: not installed
};

struct DeviceChoice {
  std::string device = "cpu";       // "cpu" or "cuda"
  std::string reason;               // why (for info and for 'auto' fallbacks)
  std::vector<std::string> providers;  // ONNX Runtime execution providers, in priority order
  const OrtEpDevice* ep_device = nullptr;  // the CUDA device's entry; owned by the environment
};

// Appends the chosen provider to `options`. Throws Error(CudaUnavailable) for DeviceKind::Cuda when
// the GPU path fails; the message names what is missing (provider library, CUDA libraries,
// driver, device).
DeviceChoice configure_device(Ort::Env& env, Ort::SessionOptions& options, const DeviceRequest& request);

}  // namespace crossrank
