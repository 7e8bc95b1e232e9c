#!/usr/bin/python3
"""The PyTorch side of the parity tests of the LibTorch backend (tests/torch/test_parity.cpp).

    /usr/bin/python3 export_mobilenet.py OUTDIR

Builds torchvision's MobileNetV2 with 3 classes from torch.manual_seed(0), gives its batch norms
non-trivial statistics and its classifier larger weights (so that the probabilities are far from
uniform and freezing really folds something), and writes to OUTDIR:
  mobilenet_v2.pt  the model in eval mode, torch.jit.script'ed
  input.bin        the input, 1x3x224x224 float32 (little-endian, C order) from a seeded generator
  probs.bin        softmax(logits) that PyTorch computes for it, 3 float32
  cam.bin          the Grad-CAM map of the most probable class at the last feature map, 7x7
                   float32: A = features(x), w_k = mean_ij dlogit/dA_k, ReLU(sum_k w_k A_k) / max
  info.txt         "target <class> tensors <entries in the state dict>"
  mutating.pt      a small TorchScript model that doubles its input in place before running it, and
  mutating_probs.bin  its probabilities for the input (csss must not let it write to the caller's
                   images)
Exits with status 3 and says what to install when torch or torchvision cannot be imported.
"""
import os
import sys

try:
    import torch
    import torch.nn.functional as F
    import torchvision
except ImportError as e:  # the C++ test turns this into a failure with the same advice
    print(f"cannot import PyTorch ({e}): install the Debian packages python3-torch "
          "python3-torchvision", file=sys.stderr)
    sys.exit(3)

CLASSES = 3
SIZE = 224


def build_model():
    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v2(num_classes=CLASSES)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
        model.classifier[1].weight.normal_(0.0, 0.5)
        model.classifier[1].bias.uniform_(-0.5, 0.5)
    return model.eval()


class MutatesInput(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.ReLU())
        self.classifier = torch.nn.Linear(8, CLASSES)

    def forward(self, x):
        x.mul_(2.0)
        a = self.features(x)
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(a, (1, 1)), 1))


def grad_cam(model, x, target):
    with torch.no_grad():
        activations = model.features(x)
    a = activations.detach().requires_grad_(True)
    logits = model.classifier(torch.flatten(F.adaptive_avg_pool2d(a, (1, 1)), 1))
    logits[0, target].backward()
    weights = a.grad.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * a.detach()).sum(dim=1))[0]
    peak = cam.max()
    return cam / peak if peak > 0 else torch.zeros_like(cam)


def write_floats(path, tensor):
    tensor.detach().to(torch.float32).contiguous().numpy().astype("<f4").tofile(path)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)  # the reference values do not depend on it; keeps ctest -j calm

    model = build_model()
    torch.jit.script(model).save(os.path.join(out, "mobilenet_v2.pt"))

    generator = torch.Generator().manual_seed(1)
    x = torch.randn(1, 3, SIZE, SIZE, generator=generator)
    with torch.no_grad():
        probs = torch.softmax(model(x), dim=1)[0]
    target = int(probs.argmax())
    cam = grad_cam(model, x, target)

    write_floats(os.path.join(out, "input.bin"), x)
    write_floats(os.path.join(out, "probs.bin"), probs)
    write_floats(os.path.join(out, "cam.bin"), cam)
    torch.manual_seed(0)
    mutating = MutatesInput().eval()
    torch.jit.script(mutating).save(os.path.join(out, "mutating.pt"))
    with torch.no_grad():
        write_floats(os.path.join(out, "mutating_probs.bin"),
                     torch.softmax(mutating(x.clone()), dim=1)[0])

    with open(os.path.join(out, "info.txt"), "w") as f:
        f.write(f"target {target} tensors {len(model.state_dict())}\n")
    print("probabilities", [round(float(p), 6) for p in probs], "target", target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
