#include "mobilenet_v2.hpp"

#include <torch/nn/functional/pooling.h>
#include <torch/nn/init.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

namespace csss::inference::torch_impl {

namespace nn = torch::nn;

namespace {

// The (expansion t, channels c, repeats n, stride s) table of the paper and of torchvision.
struct BlockSetting {
  int t, c, n, s;
};
constexpr BlockSetting kSettings[] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                                      {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};

}  // namespace

ConvBNReLU6Impl::ConvBNReLU6Impl(int in_channels, int out_channels, int kernel, int stride,
                                 int groups) {
  push_back(nn::Conv2d(nn::Conv2dOptions(in_channels, out_channels, kernel)
                           .stride(stride)
                           .padding((kernel - 1) / 2)
                           .groups(groups)
                           .bias(false)));
  push_back(nn::BatchNorm2d(out_channels));
  push_back(nn::ReLU6(nn::ReLU6Options().inplace(true)));
}

torch::Tensor ConvBNReLU6Impl::forward(torch::Tensor x) {
  return SequentialImpl::forward(std::move(x));
}

int make_divisible(double value, int divisor) {
  const double d = divisor;
  int rounded = std::max(divisor, static_cast<int>(value + d / 2) / divisor * divisor);
  if (rounded < 0.9 * value)
    rounded += divisor;
  return rounded;
}

InvertedResidualImpl::InvertedResidualImpl(int in_channels, int out_channels, int stride,
                                           int expand_ratio) {
  if (stride != 1 && stride != 2)
    throw std::invalid_argument("InvertedResidual: stride must be 1 or 2");
  const int hidden = static_cast<int>(std::lround(in_channels * static_cast<double>(expand_ratio)));
  use_residual_ = stride == 1 && in_channels == out_channels;
  nn::Sequential layers;
  if (expand_ratio != 1)
    layers->push_back(ConvBNReLU6(in_channels, hidden, 1, 1, 1));
  layers->push_back(ConvBNReLU6(hidden, hidden, 3, stride, hidden));
  layers->push_back(nn::Conv2d(nn::Conv2dOptions(hidden, out_channels, 1).bias(false)));
  layers->push_back(nn::BatchNorm2d(out_channels));
  conv_ = register_module("conv", layers);
}

torch::Tensor InvertedResidualImpl::forward(torch::Tensor x) {
  if (use_residual_)
    return x + conv_->forward(x);
  return conv_->forward(x);
}

MobileNetV2Impl::MobileNetV2Impl(const MobileNetV2Options& options) : options_(options) {
  if (options.num_classes < 1 || options.input_channels < 1 || !(options.width_mult > 0.0) ||
      !(options.dropout >= 0.0 && options.dropout < 1.0)) {
    throw std::invalid_argument("MobileNetV2: bad options");
  }
  int in_channels = make_divisible(32 * options.width_mult);
  last_channel_ = make_divisible(1280 * std::max(1.0, options.width_mult));

  nn::Sequential features;
  features->push_back(ConvBNReLU6(options.input_channels, in_channels, 3, 2, 1));
  for (const BlockSetting& s : kSettings) {
    const int out_channels = make_divisible(s.c * options.width_mult);
    for (int i = 0; i < s.n; ++i) {
      features->push_back(InvertedResidual(in_channels, out_channels, i == 0 ? s.s : 1, s.t));
      in_channels = out_channels;
    }
  }
  features->push_back(ConvBNReLU6(in_channels, last_channel_, 1, 1, 1));
  features_ = register_module("features", features);

  classifier_ = register_module(
      "classifier",
      nn::Sequential(nn::Dropout(options.dropout), nn::Linear(last_channel_, options.num_classes)));
  initialise(*this);
}

torch::Tensor MobileNetV2Impl::features(const torch::Tensor& x) {
  return features_->forward(x);
}

torch::Tensor MobileNetV2Impl::head(const torch::Tensor& feature_map) {
  namespace F = torch::nn::functional;
  const torch::Tensor pooled =
      F::adaptive_avg_pool2d(feature_map, F::AdaptiveAvgPool2dFuncOptions({1, 1}));
  return classifier_->forward(torch::flatten(pooled, 1));
}

torch::Tensor MobileNetV2Impl::forward(const torch::Tensor& x) {
  return head(features(x));
}

void initialise(MobileNetV2Impl& model) {
  const torch::NoGradGuard no_grad;
  for (const auto& module : model.modules(/*include_self=*/false)) {
    if (auto* conv = module->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
      if (conv->bias.defined())
        nn::init::zeros_(conv->bias);
    } else if (auto* bn = module->as<nn::BatchNorm2d>()) {
      nn::init::ones_(bn->weight);
      nn::init::zeros_(bn->bias);
    } else if (auto* linear = module->as<nn::Linear>()) {
      nn::init::normal_(linear->weight, 0.0, 0.01);
      nn::init::zeros_(linear->bias);
    }
  }
}

}  // namespace csss::inference::torch_impl
