#!/usr/bin/python3
"""Recomputes the golden values of sample_order_test.cc (SampleOrderGoldenTest) and
augment_test.cc (AugmentGoldenTest) without the C++ code under test: SplitMix64,
Lemire's bounded draw, MixSeed, Fisher-Yates, the validation split and torchvision's
RandomResizedCrop.get_params, reimplemented from common/random.h's and augment.h's
documented contracts with Python integers. Run: /usr/bin/python3 tests/golden_reference.py
"""
import math
M = (1 << 64) - 1

class SplitMix64:
    def __init__(self, seed): self.s = seed & M
    def next(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & M
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
        return z ^ (z >> 31)
    def below(self, bound):
        m = self.next() * bound
        low = m & M
        if low < bound:
            threshold = ((1 << 64) - bound) % bound
            while low < threshold:
                m = self.next() * bound
                low = m & M
        return m >> 64
    def uniform(self):
        return (self.next() >> 11) * 2.0 ** -53

def mix(a, b, c=0, d=0):
    h = SplitMix64(a).next()
    for v in (b, c, d):
        h = SplitMix64(h ^ ((v + 0x632BE59BD9B4E019) & M)).next()
    return h

def epoch_order(n, shuffle, seed, epoch):
    order = list(range(n))
    if shuffle and n > 1:
        rng = SplitMix64(mix(seed, epoch, 0x5eed0fde))
        for i in range(n - 1, 0, -1):
            j = rng.below(i + 1)
            order[i], order[j] = order[j], order[i]
    return order

def split_ids(n, f, subset, seed):
    nv = int(f * n)
    order = epoch_order(n, True, seed, 0x5b117)
    ids = order[n - nv:] if subset == "validation" else order[:n - nv]
    return sorted(ids)

def rank_seq(n, shuffle, seed, epoch, rank, world, start):
    order = epoch_order(n, shuffle, seed, epoch)
    size = max(0, (n - rank + world - 1) // world) if n > rank else 0
    return [order[rank + k * world] for k in range(start, size)]

def lround(x):  # C lround: half away from zero
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)

def plan_crop(sw, sh, ow, oh, seed, rrc=False, flip=False, shorter=False,
              smin=0.08, smax=1.0, rmin=3/4, rmax=4/3):
    rng = SplitMix64(seed)
    sized = ow > 0 and oh > 0
    if sized and rrc:
        area = sw * sh
        lo, hi = math.log(rmin), math.log(rmax)
        c = None
        for _ in range(10):
            ta = area * (smin + (smax - smin) * rng.uniform())
            asp = math.exp(lo + (hi - lo) * rng.uniform())
            cw = lround(math.sqrt(ta * asp)); ch = lround(math.sqrt(ta / asp))
            if 0 < cw <= sw and 0 < ch <= sh:
                y = rng.below(sh - ch + 1); x = rng.below(sw - cw + 1)
                c = [x, y, cw, ch]; break
        if c is None:
            r = sw / sh
            if r < rmin: w, h = sw, min(max(lround(sw / rmin), 1), sh)
            elif r > rmax: w, h = min(max(lround(sh * rmax), 1), sw), sh
            else: w, h = sw, sh
            c = [(sw - w) // 2, (sh - h) // 2, w, h]
    elif sized and shorter:
        sr, orr = sw / sh, ow / oh
        if sr > orr: h = sh; w = min(max(lround(sh * orr), 1), sw)
        else: w = sw; h = min(max(lround(sw / orr), 1), sh)
        c = [(sw - w) // 2, (sh - h) // 2, w, h]
    else:
        c = [0, 0, sw, sh]
    coin = (rng.next() >> 63) != 0
    return c + [flip and coin]

if __name__ == "__main__":
    print("mix0", hex(SplitMix64(0).next()))
    print("E10_0_0", epoch_order(10, True, 0, 0))
    print("E10_42_3", epoch_order(10, True, 42, 3))
    o = epoch_order(1000, True, 7, 1)
    print("E1000_7_1 first16", o[:16], "sum", sum(i * p for p, i in enumerate(o)))
    for r in range(3):
        print("R11", r, rank_seq(11, True, 9, 2, r, 3, 0), rank_seq(11, True, 9, 2, r, 3, 1))
    print("S20 train", split_ids(20, 0.25, "training", 5))
    print("S20 val", split_ids(20, 0.25, "validation", 5))
    print("E11_9_2", epoch_order(11, True, 9, 2))
    for seed, epoch, sid in [(0, 0, 0), (0, 0, 1), (42, 3, 17), (7, 1, 999), (123456789, 10, 5)]:
        s = mix(seed, epoch, sid, 0xA06)  # the seed server/pipeline/sample_processor.cc uses
        print("crop", seed, epoch, sid,
              "rrc+flip 500x375", plan_crop(500, 375, 224, 224, s, rrc=True, flip=True),
              "shorter_side+flip 640x480", plan_crop(640, 480, 224, 224, s, shorter=True, flip=True),
              "rrc scale 0.5-1 ratio 1-2 1024x768",
              plan_crop(1024, 768, 224, 224, s, rrc=True, smin=0.5, smax=1.0, rmin=1.0, rmax=2.0))
