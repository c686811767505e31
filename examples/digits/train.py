#!/usr/bin/python3
"""Trains the seed tutorial's conv net, all-convolutional, on sklearn's 8x8 digits and
exports what examples/digits/digits.c checks convcl against.

Run with the system interpreter (Debian's python3-torch and python3-sklearn):
    /usr/bin/python3 examples/digits/train.py [OUTDIR]
OUTDIR defaults to examples/digits/data. Every file is a float32 .npy, the only dtype
tools/npy.c reads, so labels and the accuracy are float32 too:
    conv{1..4}_weight.npy, conv{1..4}_bias.npy  state_dict tensors as they are
    test_images.npy   N x 1 x 8 x 8, pixels / 16 (load_digits' pixels are 0..16)
    test_labels.npy   N, the digit as a float
    logits.npy        N x 10, PyTorch's float32 forward in eval mode
    accuracy.npy      [1], PyTorch's accuracy on the test split
Split: sklearn's train_test_split, 75% train / 25% test (450 images), stratified,
random_state=0. Seeds are fixed and PyTorch runs on one thread, so a retrain on the
same machine and library versions writes the same bytes."""
import os
import sys

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

SEED = 0
EPOCHS = 40
BATCH = 64
# digits.c's tolerance on a logit: TOL_REL * max(1, max |logit|). Exact argmax equality
# is only a fair demand when every image's top two logits lie further apart than
# twice that, so training checks it below.
TOL_REL = 1e-4


def net():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(32, 10, 2),
        nn.Flatten())


def save(outdir, name, array):
    array = np.ascontiguousarray(array, dtype=np.float32)
    np.save(os.path.join(outdir, name + ".npy"), array)


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
    os.makedirs(outdir, exist_ok=True)
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=SEED, stratify=y)

    model = net()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    gen = torch.Generator().manual_seed(SEED)
    model.train()
    for _ in range(EPOCHS):
        order = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), BATCH):
            idx = order[i:i + BATCH]
            opt.zero_grad()
            loss_fn(model(xt[idx]), yt[idx]).backward()
            opt.step()

    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(x_test)).numpy()
    pred = logits.argmax(axis=1)
    accuracy = float((pred == y_test).mean())

    top2 = np.sort(logits, axis=1)[:, -2:]
    margin = float((top2[:, 1] - top2[:, 0]).min())
    tol = TOL_REL * max(1.0, float(np.abs(logits).max()))
    if margin <= 2 * tol:
        sys.exit(f"smallest top-2 logit margin {margin:.3g} is within 2 x tolerance {tol:.3g}: "
                 "argmax equality would not be a fair check; change SEED or EPOCHS")

    convs = [m for m in model if isinstance(m, nn.Conv2d)]
    for i, conv in enumerate(convs, 1):
        save(outdir, f"conv{i}_weight", conv.weight.detach().numpy())
        save(outdir, f"conv{i}_bias", conv.bias.detach().numpy())
    save(outdir, "test_images", x_test)
    save(outdir, "test_labels", y_test)
    save(outdir, "logits", logits)
    save(outdir, "accuracy", np.array([accuracy]))
    print(f"train {len(x_train)} / test {len(x_test)} images, {EPOCHS} epochs; "
          f"test accuracy {accuracy:.4f} ({int((pred == y_test).sum())}/{len(y_test)}); "
          f"max |logit| {np.abs(logits).max():.3f}, smallest top-2 margin {margin:.4f}, "
          f"tolerance {tol:.3g}; wrote {outdir}")


if __name__ == "__main__":
    main()
