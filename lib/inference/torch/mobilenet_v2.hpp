#pragma once

// MobileNetV2 (Sandler et al. 2018, "MobileNetV2: Inverted Residuals and Linear Bottlenecks") with
// the LibTorch C++ API, built exactly like torchvision.models.mobilenet_v2: the same layers, the
// same parameter and buffer names ("features.1.conv.0.0.weight", "classifier.1.bias", ...) and
// the same initialisation, so that torchvision weights can be copied into it by name. The native
// model of `csss train-eval` and of the inference backend; part of the libcsss_torch.so plugin.

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

namespace csss::inference::torch_impl {

struct MobileNetV2Options {
  int num_classes = 1000;
  int input_channels = 3;  // 1 (grayscale) or 3 (RGB); torchvision has 3
  double width_mult = 1.0;
  double dropout = 0.2;  // before the classifier's linear layer
};

// torchvision's _make_divisible: `value` rounded to the nearest multiple of `divisor`, at least
// `divisor`, and never more than 10% below `value`.
int make_divisible(double value, int divisor = 8);

// torchvision's Conv2dNormActivation with ReLU6: a Sequential of convolution (no bias), batch norm
// and ReLU6, so that its parameters are named "0.weight", "1.weight", "1.bias", ... A subclass of
// Sequential with a plain forward(), so that it can be stored in another Sequential.
class ConvBNReLU6Impl : public torch::nn::SequentialImpl {
 public:
  ConvBNReLU6Impl(int in_channels, int out_channels, int kernel, int stride, int groups);
  torch::Tensor forward(torch::Tensor x);
};
TORCH_MODULE(ConvBNReLU6);

// The inverted residual block: 1x1 expansion (unless expand_ratio is 1), 3x3 depthwise, 1x1
// linear projection, each with batch norm; ReLU6 after the first two; a skip connection when the
// stride is 1 and the channel count does not change. Its layers are `conv`, as in torchvision.
class InvertedResidualImpl : public torch::nn::Module {
 public:
  InvertedResidualImpl(int in_channels, int out_channels, int stride, int expand_ratio);
  torch::Tensor forward(torch::Tensor x);

 private:
  torch::nn::Sequential conv_{nullptr};
  bool use_residual_ = false;
};
TORCH_MODULE(InvertedResidual);

class MobileNetV2Impl : public torch::nn::Module {
 public:
  explicit MobileNetV2Impl(const MobileNetV2Options& options);

  // Logits [N, num_classes] for images [N, input_channels, H, W].
  torch::Tensor forward(const torch::Tensor& x);
  // The last convolutional feature map [N, last_channel, H/32, W/32] (Grad-CAM's layer).
  torch::Tensor features(const torch::Tensor& x);
  // Logits from a feature map: global average pooling, flatten, dropout and linear.
  torch::Tensor head(const torch::Tensor& feature_map);

  const MobileNetV2Options& options() const { return options_; }
  int last_channel() const { return last_channel_; }

 private:
  MobileNetV2Options options_;
  int last_channel_ = 0;
  torch::nn::Sequential features_{nullptr};
  torch::nn::Sequential classifier_{nullptr};
};
TORCH_MODULE(MobileNetV2);

// torchvision's initialisation: convolutions Kaiming-normal (fan_out), batch norms 1 and 0, the
// linear layer N(0, 0.01) with zero bias. Uses LibTorch's global generator (torch::manual_seed).
void initialise(MobileNetV2Impl& model);

}  // namespace csss::inference::torch_impl
