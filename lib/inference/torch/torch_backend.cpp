// The LibTorch backend of lib/inference/backend.hpp, built as the plugin libcsss_torch.so that
// inference/backend_loader.cpp loads with dlopen. Two kinds of model:
// - the native MobileNetV2 (mobilenet_v2.hpp), whose weights file is torch::save of the module;
// - a TorchScript file exported from PyTorch: predict() runs a frozen copy that went through
//   optimize_for_inference (batch norms folded, MKL-DNN convolutions), gradcam() the unfrozen
//   module, whose Grad-CAM layer and head are still submodules.
// LibTorch's exceptions (c10::Error, TorchScript's interpreter errors) never leave the plugin:
// they become csss::Error.
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <torch/autograd.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/alias_analysis.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/nn/functional/loss.h>
#include <torch/nn/functional/pooling.h>
#include <torch/optim/adam.h>
#include <torch/script.h>
#include <torch/serialize.h>

#include <malloc.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <new>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "inference/backend.hpp"
#include "mobilenet_v2.hpp"
#include "util/error.hpp"

#ifndef CSSS_LIBTORCH_VERSION
#define CSSS_LIBTORCH_VERSION TORCH_VERSION
#endif

namespace csss::inference {

namespace {

using torch_impl::MobileNetV2;
using torch_impl::MobileNetV2Options;

// LibTorch's message in one line: the cause of a TorchScript interpreter error (its last
// "SomethingError: ..." line) or else the first line, without the C++ backtrace.
std::string one_line(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const auto end = text.find('\n');
    std::string_view line = text.substr(0, end);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t'))
      line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r'))
      line.remove_suffix(1);
    if (!line.empty())
      lines.push_back(line);
    if (end == std::string_view::npos)
      break;
    text.remove_prefix(end + 1);
  }
  if (lines.empty())
    return "unknown LibTorch error";
  std::string_view chosen = lines.front();
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    const auto colon = it->find("Error: ");
    if (colon != std::string_view::npos &&
        it->substr(0, colon).find(' ') == std::string_view::npos) {
      chosen = it->substr(colon + 7);
      break;
    }
  }
  std::string out(chosen);
  if (out.size() > 400)
    out = out.substr(0, 400) + "...";
  return out;
}

// Called inside a catch block: rethrows csss::Error and std::bad_alloc as they are, and
// LibTorch's errors (c10::Error, TorchScript interpreter errors, which are std::runtime_errors) as
// Error(kind, "<context>: <LibTorch's message in one line>").
[[noreturn]] void rethrow_as(ErrorKind kind, const std::string& context) {
  try {
    throw;
  } catch (const Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const c10::Error& e) {
    throw Error(kind, context + ": " + one_line(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    throw Error(kind, context + ": " + one_line(e.what()));
  }
}

std::string shape_text(c10::IntArrayRef sizes) {
  std::ostringstream out;
  out << '[';
  for (std::size_t i = 0; i < sizes.size(); ++i)
    out << (i > 0 ? ", " : "") << sizes[i];
  out << ']';
  return out.str();
}

std::string number_text(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

void validate(const ModelSpec& spec) {
  const auto bad = [&](const std::string& why) {
    throw Error(ErrorKind::invalid_input, "model " + spec.weights.string() + ": " + why);
  };
  if (spec.num_classes < 2 || spec.num_classes > 100000)
    bad("num_classes must be between 2 and 100000, not " + std::to_string(spec.num_classes));
  if (spec.input_channels != 1 && spec.input_channels != 3)
    bad("input_channels must be 1 or 3, not " + std::to_string(spec.input_channels));
  if (spec.input_size < 32 || spec.input_size > 4096)
    bad("input_size must be between 32 and 4096, not " + std::to_string(spec.input_size));
  if (!std::isfinite(spec.temperature) || spec.temperature <= 0.0)
    bad("temperature must be a positive number, not " + number_text(spec.temperature));
  if (spec.architecture == Architecture::mobilenet_v2 &&
      (!std::isfinite(spec.width_mult) || spec.width_mult < 0.1 || spec.width_mult > 4.0)) {
    bad("width_mult must be between 0.1 and 4, not " + number_text(spec.width_mult));
  }
}

void require_readable(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw Error(ErrorKind::io, "cannot read the model weights " + path.string() +
                                   (std::filesystem::exists(path, ec) ? ": not a regular file"
                                                                      : ": no such file"));
  }
  if (!std::ifstream(path, std::ios::binary)) {
    throw Error(ErrorKind::io, "cannot read the model weights " + path.string() +
                                   ": permission denied or unreadable");
  }
}

MobileNetV2Options native_options(const ModelSpec& spec) {
  MobileNetV2Options options;
  options.num_classes = spec.num_classes;
  options.input_channels = spec.input_channels;
  options.width_mult = spec.width_mult;
  return options;
}

// What every model does the same way; the subclasses say how to get logits (fast path), the
// Grad-CAM feature map and the head that maps a feature map to logits.
class TorchModel : public Model {
 public:
  explicit TorchModel(ModelSpec spec) : spec_(std::move(spec)) {}

  std::vector<std::vector<float>> predict(std::span<const float> images, int count) override {
    const torch::Tensor x = input(images, count, run_writes_input());
    try {
      const c10::InferenceMode inference;
      const torch::Tensor logits = run(x);
      check_logits(logits, count, "the model's output");
      const torch::Tensor probabilities =
          torch::softmax(logits.to(torch::kFloat) / spec_.temperature, 1).contiguous();
      const float* p = probabilities.data_ptr<float>();
      std::vector<std::vector<float>> out(static_cast<std::size_t>(count));
      for (int i = 0; i < count; ++i) {
        const float* row = p + static_cast<std::ptrdiff_t>(i) * spec_.num_classes;
        out[static_cast<std::size_t>(i)].assign(row, row + spec_.num_classes);
      }
      return out;
    } catch (...) {
      rethrow_as(ErrorKind::invalid_input, "cannot run the model " + spec_.weights.string());
    }
  }

  HeatMap gradcam(std::span<const float> image, int target) override {
    if (target < 0 || target >= spec_.num_classes) {
      throw Error(ErrorKind::invalid_input, "Grad-CAM target class " + std::to_string(target) +
                                                " is not between 0 and " +
                                                std::to_string(spec_.num_classes - 1));
    }
    const torch::Tensor x = input(image, 1, /*copy=*/true);
    try {
      // The feature map A without autograd, then A as the leaf the gradient is taken for: the
      // gradient of the class score with respect to A needs only the head.
      torch::Tensor activations;
      {
        const torch::NoGradGuard no_grad;
        activations = feature_map(x);
      }
      check_feature_map(activations);
      const torch::AutoGradMode grad_mode(true);
      const torch::Tensor a = activations.detach().to(torch::kFloat).requires_grad_(true);
      const torch::Tensor logits = head(a);
      check_logits(logits, 1, "the head's output");
      const torch::Tensor score = logits.select(0, 0).select(0, target);
      const torch::Tensor gradient = torch::autograd::grad({score}, {a})[0];

      const torch::NoGradGuard no_grad;
      // alpha_k = mean over (i, j) of dscore/dA_k(i, j); cam = ReLU(sum_k alpha_k A_k).
      const torch::Tensor weights = gradient.mean({2, 3}, /*keepdim=*/true);
      torch::Tensor cam = torch::relu((weights * a.detach()).sum(1)).select(0, 0);
      const float peak = cam.max().item<float>();
      cam = peak > 0.0f ? (cam / peak).clamp(0.0, 1.0) : torch::zeros_like(cam);
      cam = cam.contiguous();

      HeatMap map;
      map.height = static_cast<int>(cam.size(0));
      map.width = static_cast<int>(cam.size(1));
      const float* v = cam.data_ptr<float>();
      map.values.assign(v, v + cam.numel());
      return map;
    } catch (...) {
      rethrow_as(ErrorKind::invalid_input,
                 "cannot compute Grad-CAM with the model " + spec_.weights.string());
    }
  }

  // Runs a zero image through every path and checks the shapes; called once by load(). The
  // unoptimised module goes first: a frozen TorchScript model whose MKL-DNN convolutions were
  // prepacked for another channel count crashes (LibTorch 1.13) instead of throwing. The
  // unoptimised paths (the model, and Grad-CAM's feature map and head) only have to show that the
  // channels and the outputs fit, so they run on a 64x64 image when the model takes a larger one
  // (at 224x224 they took 0.3 s of a 0.6 s load, 2 cores), and at the model's size when that
  // fails: a model may need its own size. `unoptimised` false: the optimised path alone, for a
  // prepared model whose unoptimised paths were checked for the same spec when it was made.
  void check_shapes(bool unoptimised = true) {
    const auto image_text = [&](int size) {
      return "a 1x" + std::to_string(spec_.input_channels) + "x" + std::to_string(size) + "x" +
             std::to_string(size) + " image";
    };
    const auto zero = [&](int size) { return torch::zeros({1, spec_.input_channels, size, size}); };
    const auto check_unoptimised = [&](int size) {
      check_logits(run_unoptimised(zero(size)), 1, "its output for " + image_text(size));
      const torch::Tensor activations = feature_map(zero(size));
      check_feature_map(activations);
      check_logits(head(activations), 1, "its head's output");
    };
    constexpr int kSmall = 64;
    try {
      const torch::NoGradGuard no_grad;
      bool checked = !unoptimised;
      if (!checked && spec_.input_size > kSmall) {
        try {
          check_unoptimised(kSmall);
          checked = true;
        } catch (...) {
        }
      }
      if (!checked)
        check_unoptimised(spec_.input_size);
      check_logits(run(zero(spec_.input_size)), 1,
                   "its optimised output for " + image_text(spec_.input_size));
    } catch (...) {
      rethrow_as(ErrorKind::invalid_input, "the model " + spec_.weights.string() +
                                               " cannot run on " + image_text(spec_.input_size));
    }
  }

 protected:
  // Logits, the fast way (predict); the same from the model as loaded, before any optimisation.
  virtual torch::Tensor run(const torch::Tensor& x) = 0;
  virtual torch::Tensor run_unoptimised(const torch::Tensor& x) { return run(x); }
  // Whether run() may write to its input: then predict() gives it a copy of the caller's const
  // images (a batch of 16 at 224x224 is 9.6 MB to copy, a few per cent of the run).
  virtual bool run_writes_input() const = 0;
  virtual torch::Tensor feature_map(const torch::Tensor& x) = 0;
  virtual torch::Tensor head(const torch::Tensor& feature_map) = 0;

  const ModelSpec& spec() const { return spec_; }

 private:
  // The images as a tensor [count, C, S, S]: a copy when `copy`, else a view of the caller's
  // buffer, which must then not be written to.
  torch::Tensor input(std::span<const float> images, int count, bool copy) const {
    const std::int64_t per_image =
        static_cast<std::int64_t>(spec_.input_channels) * spec_.input_size * spec_.input_size;
    if (count < 1) {
      throw Error(ErrorKind::invalid_input,
                  "no images to run (count " + std::to_string(count) + ")");
    }
    const std::int64_t expected = per_image * count;
    if (static_cast<std::int64_t>(images.size()) != expected) {
      throw Error(
          ErrorKind::invalid_input,
          "expected " + std::to_string(count) + " x " + std::to_string(spec_.input_channels) +
              " x " + std::to_string(spec_.input_size) + " x " + std::to_string(spec_.input_size) +
              " = " + std::to_string(expected) + " floats, got " + std::to_string(images.size()));
    }
    const torch::Tensor view = torch::from_blob(
        const_cast<float*>(images.data()),
        {count, spec_.input_channels, spec_.input_size, spec_.input_size}, torch::kFloat);
    return copy ? view.clone() : view;
  }

  void check_logits(const torch::Tensor& logits, std::int64_t count, const std::string& what) {
    if (logits.dim() != 2 || logits.size(0) != count || logits.size(1) != spec_.num_classes) {
      throw Error(ErrorKind::invalid_input,
                  "the model " + spec_.weights.string() + " does not fit its declared shape: " +
                      what + " is " + shape_text(logits.sizes()) + ", expected [" +
                      std::to_string(count) + ", " + std::to_string(spec_.num_classes) +
                      "] (num_classes " + std::to_string(spec_.num_classes) + ")");
    }
  }

  void check_feature_map(const torch::Tensor& a) {
    if (a.dim() != 4 || a.size(0) != 1) {
      throw Error(ErrorKind::invalid_input,
                  "the model " + spec_.weights.string() + ": the Grad-CAM layer's output is " +
                      shape_text(a.sizes()) + ", not a feature map [1, channels, height, width]");
    }
  }

  ModelSpec spec_;
};

class NativeModel final : public TorchModel {
 public:
  NativeModel(ModelSpec spec, MobileNetV2 net)
      : TorchModel(std::move(spec)), net_(std::move(net)) {}

 protected:
  torch::Tensor run(const torch::Tensor& x) override { return net_->forward(x); }
  torch::Tensor feature_map(const torch::Tensor& x) override { return net_->features(x); }
  torch::Tensor head(const torch::Tensor& a) override { return net_->head(a); }
  bool run_writes_input() const override { return false; }  // its first layer is a convolution

 private:
  MobileNetV2 net_;
};

// The unfrozen TorchScript module and its Grad-CAM submodules.
struct Unfrozen {
  torch::jit::Module module;  // eval mode: owns features and head
  torch::jit::Module features;
  torch::jit::Module head;
};

Unfrozen load_unfrozen(const ModelSpec& spec);

class TorchScriptModel final : public TorchModel {
 public:
  // `unfrozen` empty: a model loaded from ModelSpec::prepared, whose unfrozen module is loaded
  // from the weights when Grad-CAM first needs it.
  TorchScriptModel(ModelSpec spec, torch::jit::Module frozen, std::optional<Unfrozen> unfrozen,
                   std::string prepared)
      : TorchModel(std::move(spec)),
        frozen_(std::move(frozen)),
        unfrozen_(std::move(unfrozen)),
        prepared_(std::move(prepared)),
        writes_input_(graph_writes_input(frozen_)) {}

  std::string take_prepared() override { return std::exchange(prepared_, {}); }

 protected:
  torch::Tensor run(const torch::Tensor& x) override { return output(frozen_, x, "model"); }
  bool run_writes_input() const override { return writes_input_; }
  torch::Tensor run_unoptimised(const torch::Tensor& x) override {
    return output(unfrozen().module, x, "model", /*optimise=*/false);
  }
  torch::Tensor feature_map(const torch::Tensor& x) override {
    return output(unfrozen().features, x, spec().gradcam_layer, /*optimise=*/false);
  }
  torch::Tensor head(const torch::Tensor& a) override {
    namespace F = torch::nn::functional;
    const torch::Tensor pooled = F::adaptive_avg_pool2d(a, F::AdaptiveAvgPool2dFuncOptions({1, 1}));
    return output(unfrozen().head, torch::flatten(pooled, 1), spec().head_layer,
                  /*optimise=*/false);
  }

 private:
  // `optimise` false: the graph is interpreted as it is. The unfrozen module runs once to check
  // the model and once per Grad-CAM, too few times for the graph executor's profiling and
  // optimisation passes to pay off: they took 0.3 s of a 0.8 s model load (224x224 MobileNetV2,
  // 2 cores), against 0.1 s for one plain run.
  torch::Tensor output(torch::jit::Module& m, const torch::Tensor& x, const std::string& name,
                       bool optimise = true) {
    const torch::jit::GraphOptimizerEnabledGuard optimiser(optimise);
    const c10::IValue out = m.forward({x});
    if (!out.isTensor()) {
      throw Error(ErrorKind::invalid_input, "the model " + spec().weights.string() + ": '" + name +
                                                "' returns a " + out.tagKind() + ", not a tensor");
    }
    return out.toTensor();
  }

  Unfrozen& unfrozen() {
    const std::lock_guard lock(unfrozen_mutex_);
    if (!unfrozen_)
      unfrozen_ = load_unfrozen(spec());
    return *unfrozen_;
  }

  torch::jit::Module frozen_;  // frozen and optimised for inference: predict()
  std::mutex unfrozen_mutex_;
  std::optional<Unfrozen> unfrozen_;
  std::string prepared_;  // for take_prepared()
  bool writes_input_ = true;

  // Whether the frozen forward graph (submodules inlined) may write to its image input, by
  // TorchScript's alias analysis.
  static bool graph_writes_input(const torch::jit::Module& frozen) {
    const std::shared_ptr<torch::jit::Graph> graph = frozen.get_method("forward").graph();
    if (graph->inputs().size() != 2)
      return true;
    const torch::jit::AliasDb alias_db(graph, /*isFrozen=*/true, /*descendFunctionCalls=*/true);
    return alias_db.hasWriters(graph->inputs()[1]);
  }
};

// The submodule at the dotted `path` ("features", "backbone.layer4") of `root`.
torch::jit::Module submodule(const torch::jit::Module& root, const std::string& path,
                             const ModelSpec& spec, const std::string& role) {
  torch::jit::Module m = root;
  std::string_view rest = path;
  while (true) {
    const auto dot = rest.find('.');
    const std::string part(rest.substr(0, dot));
    if (part.empty() || !m.hasattr(part) || !m.attr(part).isModule()) {
      std::string children;
      for (const auto& child : root.named_children())
        children += (children.empty() ? "" : ", ") + child.name;
      throw Error(ErrorKind::invalid_input,
                  "the TorchScript model " + spec.weights.string() + " has no submodule '" + path +
                      "' (its " + role +
                      "); its submodules are: " + (children.empty() ? "none" : children));
    }
    m = m.attr(part).toModule();
    if (dot == std::string_view::npos)
      break;
    rest.remove_prefix(dot + 1);
  }
  if (!m.find_method("forward")) {
    throw Error(ErrorKind::invalid_input, "the TorchScript model " + spec.weights.string() +
                                              ": submodule '" + path + "' has no forward method");
  }
  return m;
}

Unfrozen load_unfrozen(const ModelSpec& spec) {
  torch::jit::Module module;
  try {
    module = torch::jit::load(spec.weights.string(), torch::kCPU);
  } catch (...) {
    rethrow_as(ErrorKind::invalid_input, spec.weights.string() + " is not a TorchScript model");
  }
  if (!module.find_method("forward")) {
    throw Error(ErrorKind::invalid_input,
                spec.weights.string() +
                    " is not a TorchScript model: it has no forward method (a native "
                    "MobileNetV2 weights file? its architecture is mobilenet_v2)");
  }
  try {
    module.eval();
    torch::jit::Module features = submodule(module, spec.gradcam_layer, spec, "Grad-CAM layer");
    torch::jit::Module head = submodule(module, spec.head_layer, spec, "head");
    return Unfrozen{std::move(module), std::move(features), std::move(head)};
  } catch (...) {
    rethrow_as(ErrorKind::invalid_input,
               "cannot prepare the TorchScript model " + spec.weights.string());
  }
}

// What a prepared model records about how it was made (an extra file in its archive): load()
// runs it only for the same LibTorch, weights, classes, input and layers, all of which
// check_shapes() checked when it was made.
constexpr const char* kPreparedRecord = "csss-prepared.txt";

std::string prepared_record(const ModelSpec& spec) {
  return std::string("csss prepared model 1\nLibTorch ") + CSSS_LIBTORCH_VERSION +
         "\nweights sha256 " + spec.weights_sha256 + "\nclasses " +
         std::to_string(spec.num_classes) + "\ninput " + std::to_string(spec.input_channels) + "x" +
         std::to_string(spec.input_size) + "x" + std::to_string(spec.input_size) +
         "\nGrad-CAM layer " + spec.gradcam_layer + "\nhead " + spec.head_layer + "\n";
}

// The model from spec.prepared, or nullptr when it is not one for this spec (or not readable):
// the caller then freezes the weights. Loading the TorchScript weights and freezing them took
// 0.61 s for a 224x224 MobileNetV2, reading the frozen model 0.02 s (2 cores).
std::unique_ptr<TorchScriptModel> load_prepared(const ModelSpec& spec) {
  if (spec.prepared.empty() || spec.weights_sha256.empty())
    return nullptr;
  try {
    std::istringstream in(spec.prepared);
    torch::jit::ExtraFilesMap extra{{kPreparedRecord, ""}};
    torch::jit::Module frozen = torch::jit::load(in, torch::kCPU, extra);
    if (extra[kPreparedRecord] != prepared_record(spec) || !frozen.find_method("forward"))
      return nullptr;
    frozen = torch::jit::optimize_for_inference(frozen);
    auto model =
        std::make_unique<TorchScriptModel>(spec, std::move(frozen), std::nullopt, std::string());
    model->check_shapes(/*unoptimised=*/false);
    return model;
  } catch (...) {
    return nullptr;
  }
}

std::unique_ptr<Model> load_torchscript(const ModelSpec& spec) {
  if (auto model = load_prepared(spec))
    return model;
  Unfrozen unfrozen = load_unfrozen(spec);
  try {
    // freeze() works on a copy: the unfrozen module keeps its submodules for Grad-CAM.
    torch::jit::Module frozen = torch::jit::freeze(unfrozen.module);
    std::string prepared;
    if (spec.keep_prepared && !spec.weights_sha256.empty()) {
      // Before optimize_for_inference, whose MKL-DNN weights cannot be saved; it runs again on
      // every load (0.05 s).
      std::ostringstream out;
      frozen.save(out, torch::jit::ExtraFilesMap{{kPreparedRecord, prepared_record(spec)}});
      prepared = std::move(out).str();
    }
    frozen = torch::jit::optimize_for_inference(frozen);
    auto model = std::make_unique<TorchScriptModel>(spec, std::move(frozen), std::move(unfrozen),
                                                    std::move(prepared));
    model->check_shapes(/*unoptimised=*/true);
    return model;
  } catch (...) {
    rethrow_as(ErrorKind::invalid_input,
               "cannot prepare the TorchScript model " + spec.weights.string());
  }
}

// Parameters and buffers, in the module's order.
using Shapes = std::vector<std::pair<std::string, std::vector<std::int64_t>>>;

Shapes shapes_of(const torch::nn::Module& m) {
  Shapes out;
  for (const auto& p : m.named_parameters())
    out.emplace_back(p.key(), p.value().sizes().vec());
  for (const auto& b : m.named_buffers())
    out.emplace_back(b.key(), b.value().sizes().vec());
  return out;
}

// A native MobileNetV2 of `spec`'s shape with the weights of spec.weights, every tensor's name and
// shape checked; in train mode (as constructed).
MobileNetV2 load_native_net(const ModelSpec& spec) {
  const MobileNetV2Options options = native_options(spec);
  MobileNetV2 net(options);
  const Shapes expected = shapes_of(*net);
  try {
    torch::load(net, spec.weights.string());
  } catch (...) {
    rethrow_as(ErrorKind::invalid_input,
               spec.weights.string() + " is not a native MobileNetV2 weights file");
  }
  const Shapes loaded = shapes_of(*net);
  for (const auto& [name, shape] : expected) {
    const auto it = std::find_if(loaded.begin(), loaded.end(),
                                 [&](const auto& entry) { return entry.first == name; });
    if (it == loaded.end() || it->second != shape) {
      throw Error(ErrorKind::invalid_input,
                  "the weights " + spec.weights.string() +
                      " do not fit the declared MobileNetV2 (num_classes " +
                      std::to_string(spec.num_classes) + ", input_channels " +
                      std::to_string(spec.input_channels) + ", width_mult " +
                      number_text(spec.width_mult) + "): " + name + " is " +
                      (it == loaded.end() ? "missing" : shape_text(it->second)) + ", expected " +
                      shape_text(shape));
    }
  }
  return net;
}

std::unique_ptr<Model> load_native(const ModelSpec& spec) {
  MobileNetV2 net = load_native_net(spec);
  net->eval();
  auto model = std::make_unique<NativeModel>(spec, std::move(net));
  model->check_shapes();
  return model;
}

// Training of the native MobileNetV2: Adam, (weighted) cross-entropy.
class NativeTrainer final : public Trainer {
 public:
  NativeTrainer(TrainSpec spec, MobileNetV2 net)
      : spec_(std::move(spec)),
        net_(std::move(net)),
        optimizer_(
            net_->parameters(),
            torch::optim::AdamOptions(spec_.learning_rate).weight_decay(spec_.weight_decay)) {
    if (!spec_.class_weights.empty()) {
      class_weights_ = torch::tensor(spec_.class_weights, torch::kFloat);
    }
  }

  StepResult train_step(std::span<const float> images, std::span<const int> labels,
                        int count) override {
    const torch::Tensor x = batch(images, count);
    const torch::Tensor y = targets(labels, count);
    try {
      net_->train();
      optimizer_.zero_grad();
      const torch::Tensor logits = net_->forward(x);
      namespace F = torch::nn::functional;
      auto options = F::CrossEntropyFuncOptions();
      if (class_weights_.defined())
        options.weight(class_weights_);
      const torch::Tensor loss = F::cross_entropy(logits, y, options);
      const double value = loss.item<double>();
      if (!std::isfinite(value)) {
        throw Error(ErrorKind::invalid_input, "the training loss is not finite (" +
                                                  number_text(value) +
                                                  "): lower the learning rate");
      }
      loss.backward();
      optimizer_.step();
      StepResult result;
      result.loss = value;
      result.correct = static_cast<int>(logits.argmax(1).eq(y).sum().item<std::int64_t>());
      return result;
    } catch (...) {
      rethrow_as(ErrorKind::invalid_input, "cannot train the model");
    }
  }

  std::vector<std::vector<float>> logits(std::span<const float> images, int count) override {
    const torch::Tensor x = batch(images, count);
    try {
      net_->eval();
      const c10::InferenceMode inference;
      const torch::Tensor out = net_->forward(x).to(torch::kFloat).contiguous();
      const float* p = out.data_ptr<float>();
      const auto k = static_cast<std::size_t>(spec_.model.num_classes);
      std::vector<std::vector<float>> rows(static_cast<std::size_t>(count));
      for (std::size_t i = 0; i < rows.size(); ++i)
        rows[i].assign(p + i * k, p + (i + 1) * k);
      return rows;
    } catch (...) {
      rethrow_as(ErrorKind::invalid_input, "cannot run the model being trained");
    }
  }

  double learning_rate() const override {
    return static_cast<const torch::optim::AdamOptions&>(
               optimizer_.param_groups().front().options())
        .lr();
  }

  void set_learning_rate(double rate) override {
    if (!std::isfinite(rate) || rate <= 0.0) {
      throw Error(ErrorKind::invalid_input,
                  "the learning rate must be a positive number, not " + number_text(rate));
    }
    for (auto& group : optimizer_.param_groups())
      static_cast<torch::optim::AdamOptions&>(group.options()).lr(rate);
  }

  void save_weights(const std::filesystem::path& path) override {
    try {
      torch::save(net_, path.string());
    } catch (...) {
      rethrow_as(ErrorKind::io, "cannot write the model " + path.string());
    }
  }

  void load_weights(const std::filesystem::path& path) override {
    require_readable(path);
    ModelSpec spec = spec_.model;
    spec.weights = path;
    MobileNetV2 loaded = load_native_net(spec);
    const torch::NoGradGuard no_grad;
    auto target = net_->named_parameters();
    for (const auto& p : loaded->named_parameters())
      target[p.key()].copy_(p.value());
    auto target_buffers = net_->named_buffers();
    for (const auto& b : loaded->named_buffers())
      target_buffers[b.key()].copy_(b.value());
  }

  void save_optimizer(const std::filesystem::path& path) override {
    try {
      torch::save(optimizer_, path.string());
    } catch (...) {
      rethrow_as(ErrorKind::io, "cannot write the optimiser state " + path.string());
    }
  }

  void load_optimizer(const std::filesystem::path& path) override {
    require_readable(path);
    try {
      torch::load(optimizer_, path.string());
    } catch (...) {
      rethrow_as(ErrorKind::invalid_input,
                 path.string() + " is not the optimiser state of this model");
    }
  }

 private:
  torch::Tensor batch(std::span<const float> images, int count) const {
    const std::int64_t per_image = static_cast<std::int64_t>(spec_.model.input_channels) *
                                   spec_.model.input_size * spec_.model.input_size;
    if (count < 1 || static_cast<std::int64_t>(images.size()) != per_image * count) {
      throw Error(ErrorKind::invalid_input, "a training batch of " + std::to_string(count) +
                                                " images needs " +
                                                std::to_string(per_image * std::max(count, 0)) +
                                                " floats, got " + std::to_string(images.size()));
    }
    return torch::from_blob(
        const_cast<float*>(images.data()),
        {count, spec_.model.input_channels, spec_.model.input_size, spec_.model.input_size},
        torch::kFloat);
  }

  torch::Tensor targets(std::span<const int> labels, int count) const {
    if (static_cast<int>(labels.size()) != count) {
      throw Error(ErrorKind::invalid_input, "a training batch of " + std::to_string(count) +
                                                " images has " + std::to_string(labels.size()) +
                                                " labels");
    }
    std::vector<std::int64_t> values(labels.begin(), labels.end());
    for (const std::int64_t v : values) {
      if (v < 0 || v >= spec_.model.num_classes) {
        throw Error(ErrorKind::invalid_input,
                    "label " + std::to_string(v) + " is not a class of the model (0.." +
                        std::to_string(spec_.model.num_classes - 1) + ")");
      }
    }
    return torch::tensor(values, torch::kLong);
  }

  TrainSpec spec_;
  MobileNetV2 net_;
  torch::optim::Adam optimizer_;
  torch::Tensor class_weights_;
};

// A batch of 16 images through MobileNetV2 allocates and frees activations of up to 77 MB per
// layer. glibc serves blocks above its mmap threshold (at most 32 MB) with a fresh mmap and gives
// them back on free, so every batch page-faults and zeroes its activations again: some 40,000
// page faults and a fifth of the CPU time per batch. Served from the heap, and the heap not
// trimmed, the same memory is reused from batch to batch. The process keeps its peak memory, as
// it would with jemalloc or tcmalloc, which PyTorch recommends for CPU inference.
void keep_freed_memory() {
  ::mallopt(M_MMAP_MAX, 0);
  ::mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
}

class TorchBackend final : public Backend {
 public:
  TorchBackend() {
    // Debian's LibTorch starts with one intra-op thread; inference uses every core.
    const unsigned cores = std::thread::hardware_concurrency();
    at::set_num_threads(static_cast<int>(std::max(1u, cores)));
    keep_freed_memory();
  }

  std::unique_ptr<Model> load(const ModelSpec& spec) override {
    validate(spec);
    require_readable(spec.weights);
    switch (spec.architecture) {
      case Architecture::mobilenet_v2:
        return load_native(spec);
      case Architecture::torchscript:
        return load_torchscript(spec);
    }
    throw Error(ErrorKind::invalid_input,
                "model " + spec.weights.string() + ": unknown architecture");
  }

  void set_threads(int threads) override { at::set_num_threads(std::max(1, threads)); }

  std::string describe() const override {
    const int threads = at::get_num_threads();
    return std::string("LibTorch ") + CSSS_LIBTORCH_VERSION + ", " + std::to_string(threads) +
           (threads == 1 ? " thread" : " threads");
  }

  std::unique_ptr<Trainer> trainer(const TrainSpec& spec) override {
    if (spec.model.architecture != Architecture::mobilenet_v2) {
      throw Error(ErrorKind::invalid_input,
                  "only a native MobileNetV2 (architecture mobilenet_v2) can be trained");
    }
    validate(spec.model);
    if (!std::isfinite(spec.learning_rate) || spec.learning_rate <= 0.0) {
      throw Error(ErrorKind::invalid_input, "the learning rate must be a positive number, not " +
                                                number_text(spec.learning_rate));
    }
    if (!std::isfinite(spec.weight_decay) || spec.weight_decay < 0.0) {
      throw Error(ErrorKind::invalid_input, "the weight decay must be zero or positive, not " +
                                                number_text(spec.weight_decay));
    }
    if (!spec.class_weights.empty()) {
      if (static_cast<int>(spec.class_weights.size()) != spec.model.num_classes) {
        throw Error(ErrorKind::invalid_input,
                    "class weights: " + std::to_string(spec.class_weights.size()) + " values for " +
                        std::to_string(spec.model.num_classes) + " classes");
      }
      for (const float w : spec.class_weights) {
        if (!std::isfinite(w) || w <= 0.0f) {
          throw Error(ErrorKind::invalid_input, "class weights must be positive numbers");
        }
      }
    }
    require_readable(spec.model.weights);
    torch::manual_seed(spec.seed);
    MobileNetV2 net = load_native_net(spec.model);
    return std::make_unique<NativeTrainer>(spec, std::move(net));
  }

  int write_initial_model(const ModelSpec& spec, std::uint64_t seed,
                          const std::filesystem::path& pretrained) override {
    if (spec.architecture != Architecture::mobilenet_v2) {
      throw Error(ErrorKind::invalid_input,
                  "only a native MobileNetV2 (architecture mobilenet_v2) can be initialised");
    }
    validate(spec);
    torch::manual_seed(seed);
    MobileNetV2 net(native_options(spec));
    int copied = 0;
    if (!pretrained.empty()) {
      require_readable(pretrained);
      torch::jit::Module source;
      try {
        source = torch::jit::load(pretrained.string(), torch::kCPU);
      } catch (...) {
        rethrow_as(ErrorKind::invalid_input, pretrained.string() + " is not a TorchScript model");
      }
      std::map<std::string, torch::Tensor> tensors;
      for (const auto& p : source.named_parameters())
        tensors.emplace(p.name, p.value);
      for (const auto& b : source.named_buffers())
        tensors.emplace(b.name, b.value);
      const torch::NoGradGuard no_grad;
      const auto copy = [&](const std::string& name, torch::Tensor& target) {
        const auto it = tensors.find(name);
        if (it != tensors.end() && it->second.sizes() == target.sizes()) {
          target.copy_(it->second);
          ++copied;
        }
      };
      for (auto& p : net->named_parameters())
        copy(p.key(), p.value());
      for (auto& b : net->named_buffers())
        copy(b.key(), b.value());
    }
    try {
      torch::save(net, spec.weights.string());
    } catch (...) {
      rethrow_as(ErrorKind::io, "cannot write the model " + spec.weights.string());
    }
    return copied;
  }
};

}  // namespace

}  // namespace csss::inference

extern "C" __attribute__((visibility("default"))) csss::inference::Backend*
csss_create_torch_backend() {
  return new csss::inference::TorchBackend();
}
