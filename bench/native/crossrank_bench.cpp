// Native benchmarks that need no Node.js:
//   crossrank-bench gemm MODEL.onnx THREADS REPS
//     GEMM peak of this machine through the same ONNX Runtime library the addon uses (one large
//     fp32 MatMul, bench/models.py writes it). Prints {"gflops": best, "median": ..., "runs": [...]}:
//     a peak is the best the machine showed; on a shared machine a neighbour can halve some runs,
//     and a median peak then reads below what the models themselves reach.
//   crossrank-bench engine MODEL.onnx TOKENIZER.json PAIRS.json THREADS BATCH REPS
//     The engine alone (no JS): pairs/s of CrossEncoderEngine::predict on a JSON list of pairs.
#include <onnxruntime_cxx_api.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cross_encoder.h"

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

int gemm(const char* model, int threads, int reps) {
  Ort::Env env(ORT_LOGGING_LEVEL_ERROR, "gemm");
  Ort::SessionOptions so;
  so.SetIntraOpNumThreads(threads);
  so.SetInterOpNumThreads(1);
  Ort::Session session(env, model, so);
  auto shape = session.GetInputTypeInfo(0).GetTensorTypeAndShapeInfo().GetShape();
  const int64_t n = shape[0];
  std::vector<float> a(static_cast<size_t>(n * n), 0.5f);
  auto mem = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  Ort::Value input = Ort::Value::CreateTensor<float>(mem, a.data(), a.size(), shape.data(), shape.size());
  const char* in_name = "A";
  const char* out_name = "C";
  session.Run(Ort::RunOptions{nullptr}, &in_name, &input, 1, &out_name, 1);  // warm-up
  std::vector<double> gflops;
  for (int r = 0; r < reps; ++r) {
    auto t = std::chrono::steady_clock::now();
    session.Run(Ort::RunOptions{nullptr}, &in_name, &input, 1, &out_name, 1);
    gflops.push_back(2.0 * n * n * n / seconds_since(t) / 1e9);
  }
  std::printf("{\"size\": %lld, \"threads\": %d, \"gflops\": %.3f, \"median\": %.3f, \"runs\": [",
              static_cast<long long>(n), threads, *std::max_element(gflops.begin(), gflops.end()), median(gflops));
  for (size_t i = 0; i < gflops.size(); ++i) std::printf("%s%.3f", i ? ", " : "", gflops[i]);
  std::printf("]}\n");
  return 0;
}

// Minimal reader for [["q","d"], ...] as written by JSON.stringify (escapes handled).
std::vector<std::string> read_json_strings(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string s = ss.str();
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '"') continue;
    std::string cur;
    for (++i; i < s.size() && s[i] != '"'; ++i) {
      if (s[i] == '\\' && i + 1 < s.size()) {
        char c = s[++i];
        cur += c == 'n' ? '\n' : c == 't' ? '\t' : c;
      } else {
        cur += s[i];
      }
    }
    out.push_back(std::move(cur));
  }
  return out;
}

int engine(const char* model, const char* tokenizer, const char* pairs_path, int threads, int batch, int reps,
           int runs) {
  crossrank::EngineConfig config;
  config.model_path = model;
  config.tokenizer_path = tokenizer;
  config.pad_token = "[PAD]";
  config.session.intra_op_threads = threads;
  config.concurrent_runs = static_cast<size_t>(runs);
  crossrank::CrossEncoderEngine engine(config);
  const auto flat = read_json_strings(pairs_path);
  crossrank::JobTexts texts;
  for (size_t i = 0; i + 1 < flat.size(); i += 2) {
    texts.first.push_back(flat[i]);
    texts.second.push_back(flat[i + 1]);
  }
  crossrank::PredictOptions options;
  options.batch_size = static_cast<size_t>(batch);
  std::vector<float> out(texts.size() * static_cast<size_t>(engine.num_labels()));
  engine.predict(texts, options, out.data());  // warm-up
  std::vector<double> rates;
  for (int r = 0; r < reps; ++r) {
    auto t = std::chrono::steady_clock::now();
    engine.predict(texts, options, out.data());
    rates.push_back(static_cast<double>(texts.size()) / seconds_since(t));
  }
  std::printf("{\"pairs\": %zu, \"pairs_per_second\": %.3f}\n", texts.size(), median(rates));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string cmd = argc > 1 ? argv[1] : "";
    if (cmd == "gemm" && argc == 5) return gemm(argv[2], std::stoi(argv[3]), std::stoi(argv[4]));
    if (cmd == "engine" && (argc == 8 || argc == 9)) {
      return engine(argv[2], argv[3], argv[4], std::stoi(argv[5]), std::stoi(argv[6]), std::stoi(argv[7]),
                    argc == 9 ? std::stoi(argv[8]) : 0);
    }
    std::fprintf(stderr,
                 "usage: crossrank-bench gemm MODEL.onnx THREADS REPS\n"
                 "       crossrank-bench engine MODEL.onnx TOKENIZER.json PAIRS.json THREADS BATCH REPS [CONCURRENT_RUNS]\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "crossrank-bench: %s\n", e.what());
    return 1;
  }
}
