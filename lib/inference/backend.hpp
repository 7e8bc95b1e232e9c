#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

// The boundary to LibTorch. Nothing here includes LibTorch: the backend lives in its own shared
// library (lib/inference/torch, libcsss_torch.so) that torch_backend() loads with dlopen on first
// use, so that commands that run no model never pay LibTorch's start-up time and memory.

namespace csss::inference {

enum class Architecture {
  mobilenet_v2,  // the native LibTorch MobileNetV2 that `csss train-eval` trains
  torchscript,   // a TorchScript file exported from PyTorch
};

// What the backend needs to load a model; the caller has checked the weights' hash already.
struct ModelSpec {
  std::filesystem::path weights;
  Architecture architecture = Architecture::mobilenet_v2;
  int num_classes = 2;
  int input_channels = 1;
  int input_size = 224;
  double width_mult = 1.0;  // mobilenet_v2 only
  // TorchScript only: the submodule whose output feeds Grad-CAM ("features"), and the one that
  // maps the globally average-pooled, flattened features to logits ("classifier").
  std::string gradcam_layer = "features";
  std::string head_layer = "classifier";
  double temperature = 1.0;  // logits are divided by it before the softmax (calibration)
  // TorchScript only: the prepared-model cache (inference/prepared.hpp). `prepared` holds the
  // bytes of a model that an earlier load() froze (Model::take_prepared()); load() runs it instead
  // of freezing the weights again when it was frozen by this backend from weights with the SHA-256
  // `weights_sha256` for this spec's classes, input and layers, and otherwise ignores it. With
  // `keep_prepared`, a load() that freezes the weights keeps the frozen model for take_prepared().
  std::string prepared;
  std::string weights_sha256;
  bool keep_prepared = false;
};

// A Grad-CAM map (Selvaraju et al. 2017) at the feature map's resolution, scaled to [0,1].
struct HeatMap {
  int width = 0;
  int height = 0;
  std::vector<float> values;  // row-major
};

class Model {
 public:
  virtual ~Model() = default;
  // Class probabilities for `count` preprocessed images (CHW floats of ModelSpec's shape, one
  // after another), run in one batch. Throws Error(invalid_input) when the sizes do not match.
  virtual std::vector<std::vector<float>> predict(std::span<const float> images, int count) = 0;
  // The Grad-CAM map of class `target` for one preprocessed image.
  virtual HeatMap gradcam(std::span<const float> image, int target) = 0;
  // The frozen model that load() made (ModelSpec::keep_prepared), once; empty when it made none
  // (a native model, a model loaded from ModelSpec::prepared, or a second call).
  virtual std::string take_prepared() { return {}; }
};

// What training needs besides the model's shape. The loss is cross-entropy, weighted per class
// when `class_weights` is not empty (one positive weight per class); the optimiser is Adam.
struct TrainSpec {
  ModelSpec model;  // architecture mobilenet_v2; `weights` is where training starts from
  double learning_rate = 1e-4;
  double weight_decay = 0.0;  // Adam's L2 penalty
  std::vector<float> class_weights;
  std::uint64_t seed = 42;  // LibTorch's generator (dropout)
};

struct StepResult {
  double loss = 0.0;  // mean loss over the batch
  int correct = 0;    // images whose largest logit is their label
};

// A MobileNetV2 being trained. Images are preprocessed CHW floats of the model's shape, one after
// another, as for Model::predict.
class Trainer {
 public:
  virtual ~Trainer() = default;
  // One optimisation step (train mode: batch norm statistics update, dropout on). Throws
  // Error(invalid_input) when sizes or labels do not fit the model, or the loss is not finite.
  virtual StepResult train_step(std::span<const float> images, std::span<const int> labels,
                                int count) = 0;
  // Logits (before temperature), in eval mode and without autograd, one row per image.
  virtual std::vector<std::vector<float>> logits(std::span<const float> images, int count) = 0;
  virtual double learning_rate() const = 0;
  virtual void set_learning_rate(double rate) = 0;
  // The weights alone, as Backend::load reads them (torch::save of the module).
  virtual void save_weights(const std::filesystem::path& path) = 0;
  virtual void load_weights(const std::filesystem::path& path) = 0;
  // The optimiser's state (Adam's moments and step counts), for resuming.
  virtual void save_optimizer(const std::filesystem::path& path) = 0;
  virtual void load_optimizer(const std::filesystem::path& path) = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Loads and prepares a model for inference: eval mode, no autograd for predict(), TorchScript
  // frozen and run through optimize_for_inference. Throws Error(invalid_input) when the file is
  // not a model of the declared kind or its output does not have num_classes values.
  virtual std::unique_ptr<Model> load(const ModelSpec& spec) = 0;
  // "LibTorch 1.13.1, 2 threads".
  virtual std::string describe() const = 0;
  // How many threads (1 or more) a model run started on the calling thread uses, and threads that
  // have not run a model yet (LibTorch's intra-op threads: at::set_num_threads). Every core by
  // default; two threads that each run a model with one thread keep two cores busier than one
  // with two (see pipelines/batch).
  virtual void set_threads(int threads) = 0;
  // Writes a new native MobileNetV2 of `spec`'s shape (architecture mobilenet_v2) to spec.weights,
  // in the format load() reads (torch::save of the module): initialised as torchvision does, from
  // the random seed `seed`; then, when `pretrained` is not empty, every parameter and buffer of the
  // TorchScript model there (e.g. a torchvision MobileNetV2) whose name and shape match is copied.
  // Returns how many tensors were copied. The starting point of training, and the tests' model.
  // Throws Error(invalid_input) for a bad spec or `pretrained` file, Error(io) when it cannot
  // write.
  virtual int write_initial_model(const ModelSpec& spec, std::uint64_t seed,
                                  const std::filesystem::path& pretrained) = 0;
  // A trainer starting from the weights at spec.model.weights (see write_initial_model). Throws
  // Error(invalid_input) for a bad spec or weights file.
  virtual std::unique_ptr<Trainer> trainer(const TrainSpec& spec) = 0;
};

// The LibTorch backend, loaded on first call from $CSSS_TORCH_BACKEND or from
// libcsss_torch.so in the lib/ directory beside the binary's bin/ directory; it uses every core.
// Throws Error(io) saying why when it cannot be loaded.
Backend& torch_backend();

// The library torch_backend() loads: $CSSS_TORCH_BACKEND when set, else
// <directory of /proc/self/exe>/../lib/libcsss_torch.so.
std::filesystem::path torch_backend_path();

// A new backend from the plugin `library` (dlopen RTLD_NOW|RTLD_LOCAL, never closed), not shared
// with torch_backend(); mostly for tests. Throws Error(io) saying why when it cannot be loaded.
std::unique_ptr<Backend> load_torch_backend(const std::filesystem::path& library);

}  // namespace csss::inference

// The plugin's one exported symbol: a new backend, owned by the caller.
extern "C" csss::inference::Backend* csss_create_torch_backend();
