#include "execution_provider.h"

#include <dlfcn.h>
#include <onnxruntime_cxx_api.h>

#include <fstream>
#include <mutex>

#include "errors.h"

namespace crossrank {

namespace {

constexpr const char* kRegistration = "crossrank-cuda";
constexpr const char* kCudaEp = "CUDAExecutionProvider";

// What a failed registration means, in words a user can act on.
std::string explain_registration_failure(const std::string& path, const std::string& ort_message) {
  if (ort_message.find("libcuda.so") != std::string::npos) {
    return "the NVIDIA driver library libcuda.so.1 cannot be loaded (no driver on this machine?): " + ort_message;
  }
  for (const char* lib : {"libcublas", "libcudart", "libcurand", "libcufft", "libcudnn", ".so.13", ".so.10"}) {
    if (ort_message.find(lib) != std::string::npos) {
      return "the CUDA 13 libraries the provider needs cannot be loaded (put libcudart.so.13, libcublas.so.13, "
             "libcublasLt.so.13 and libcurand.so.10 on LD_LIBRARY_PATH): " + ort_message;
    }
  }
  return "cannot register the CUDA provider library " + path + ": " + ort_message;
}

// The CUDA provider library is built against ONNX Runtime's provider bridge: it calls back into the
// core library's CUDA host functions, which only a CUDA-enabled core build has (a CPU-only core
// lets the session load, then crashes inside the first Run), and it needs
// libonnxruntime_providers_shared.so beside the core. Returns what is missing, or "".
std::string check_core_for_cuda() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&OrtGetApiBase), &info) == 0 || info.dli_fname == nullptr) {
    return "";  // cannot tell where the core library is: let registration speak for itself
  }
  const std::string core = info.dli_fname;
  void* handle = dlopen(core.c_str(), RTLD_NOW | RTLD_NOLOAD);
  const bool cuda_enabled = handle != nullptr && dlsym(handle, "OrtSessionOptionsAppendExecutionProvider_CUDA") != nullptr;
  if (handle != nullptr) dlclose(handle);
  if (!cuda_enabled) {
    return "the ONNX Runtime core library in use (" + core +
           ") is a CPU-only build; the CUDA provider needs the CUDA-enabled build of the same version, which "
           "`npm install @crossrank/linux-x64-gnu-cuda` brings (a source build: onnxruntime-node@1.29.0 installed)";
  }
  const std::string dir = core.substr(0, core.find_last_of('/') + 1);
  if (!std::ifstream(dir + "libonnxruntime_providers_shared.so").good()) {
    return "libonnxruntime_providers_shared.so is missing beside the ONNX Runtime core library " + core +
           " (the CUDA provider loads through it)";
  }
  return "";
}

// Registers the provider library once per process; later calls return the first outcome's error.
const std::string& register_cuda_provider(Ort::Env& env, const std::string& path) {
  static std::mutex mutex;
  static bool attempted = false;
  static std::string error;
  std::lock_guard<std::mutex> lock(mutex);
  if (!attempted) {
    attempted = true;
    try {
      env.RegisterExecutionProviderLibrary(kRegistration, path);
    } catch (const Ort::Exception& e) {
      error = explain_registration_failure(path, e.what());
    }
  }
  return error;
}

void try_cuda(Ort::Env& env, Ort::SessionOptions& options, const DeviceRequest& request, DeviceChoice& choice) {
  if (request.cuda_provider_path.empty()) {
    throw Error(ErrorCode::CudaUnavailable,
                "the CUDA provider library is not installed: `npm install @crossrank/linux-x64-gnu-cuda` (the same version "
                "as crossrank), or set CROSSRANK_CUDA_PROVIDER to libonnxruntime_providers_cuda.so");
  }
  if (!std::ifstream(request.cuda_provider_path).good()) {
    throw Error(ErrorCode::CudaUnavailable, "the CUDA provider library " + request.cuda_provider_path + " does not exist");
  }
  static const std::string core_problem = check_core_for_cuda();
  if (!core_problem.empty()) throw Error(ErrorCode::CudaUnavailable, core_problem);
  const std::string& failure = register_cuda_provider(env, request.cuda_provider_path);
  if (!failure.empty()) throw Error(ErrorCode::CudaUnavailable, failure);

  std::vector<Ort::ConstEpDevice> cuda;
  for (const auto& device : env.GetEpDevices()) {
    if (std::string(device.EpName()) == kCudaEp) cuda.push_back(device);
  }
  if (cuda.empty()) {
    throw Error(ErrorCode::CudaUnavailable,
                "the CUDA provider is loaded but sees no GPU (driver not running, or CUDA_VISIBLE_DEVICES hides them)");
  }
  if (request.device_id < 0 || static_cast<size_t>(request.device_id) >= cuda.size()) {
    throw Error(ErrorCode::CudaUnavailable, "CUDA device " + std::to_string(request.device_id) + " does not exist (" +
                                                std::to_string(cuda.size()) + " visible)");
  }
  try {
    options.AppendExecutionProvider_V2(env, {cuda[static_cast<size_t>(request.device_id)]},
                                       std::unordered_map<std::string, std::string>{});
  } catch (const Ort::Exception& e) {
    throw Error(ErrorCode::CudaUnavailable, std::string("cannot use the CUDA provider: ") + e.what());
  }
  choice.device = "cuda";
  choice.ep_device = cuda[static_cast<size_t>(request.device_id)];
  choice.reason = "CUDA device " + std::to_string(request.device_id) + " of " + std::to_string(cuda.size());
  choice.providers = {kCudaEp, "CPUExecutionProvider"};
}

}  // namespace

DeviceChoice configure_device(Ort::Env& env, Ort::SessionOptions& options, const DeviceRequest& request) {
  DeviceChoice choice;
  choice.providers = {"CPUExecutionProvider"};
  switch (request.kind) {
    case DeviceKind::Cpu:
      choice.reason = "requested cpu";
      return choice;
    case DeviceKind::Cuda:
      try_cuda(env, options, request, choice);
      return choice;
    case DeviceKind::Auto:
      try {
        try_cuda(env, options, request, choice);
        choice.reason = "auto: " + choice.reason;
      } catch (const Error& e) {
        choice = DeviceChoice{};
        choice.providers = {"CPUExecutionProvider"};
        choice.reason = std::string("auto: CUDA unavailable (") + e.what() + "), using CPU";
      }
      return choice;
  }
  return choice;
}

}  // namespace crossrank
