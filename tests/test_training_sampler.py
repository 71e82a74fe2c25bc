"""model.training.sampler: repeat factors, stochastic rounding, ranks, the batch stream."""

from __future__ import annotations

import math
from itertools import islice

import pytest
import torch

from model.training.sampler import (
    DistributedRepeatFactorSampler,
    RepeatFactorSampler,
    batch_stream,
    category_repeat_factors,
    image_repeat_factors,
)

# 1000 images: category 1 in all of them, 2 in 100, 3 in 10, 4 in 1 (with 3).
TABLE = [[1]] * 889 + [[1, 2]] * 100 + [[1, 3]] * 10 + [[1, 3, 4]]


def test_category_factors_equal_the_lvis_formula():
    factors = category_repeat_factors(TABLE, threshold=0.1)
    # f_c: the fraction of the 1000 images holding c
    assert factors[1] == 1.0  # f = 1
    assert factors[2] == 1.0  # f = 0.1 = t: not repeated
    assert factors[3] == pytest.approx(math.sqrt(0.1 / 0.011))  # about 3.02
    assert factors[4] == pytest.approx(math.sqrt(0.1 / 0.001))  # 10


def test_the_default_threshold_repeats_a_one_in_ten_thousand_category_about_three_times():
    table = [[1]] * 9999 + [[2]]
    assert category_repeat_factors(table)[2] == pytest.approx(math.sqrt(10))
    assert image_repeat_factors(table)[-1].item() == pytest.approx(math.sqrt(10))


def test_image_factor_is_the_maximum_over_its_categories():
    table = [[1], [1, 2], [2, 3], []]
    # f_1 = 2/4, f_2 = 2/4, f_3 = 1/4; with t = 1: r = sqrt(2), sqrt(2), 2
    factors = image_repeat_factors(table, threshold=1.0)
    assert factors.tolist() == pytest.approx([math.sqrt(2), math.sqrt(2), 2.0, 1.0])


def test_stochastic_rounding_repeats_each_image_its_factor_on_average():
    factors = torch.tensor([1.0, 1.5, 2.25, 3.0])
    sampler = RepeatFactorSampler(factors, seed=3)
    counts = torch.zeros(4)
    epochs = 400
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for i in sampler:
            counts[i] += 1
    assert (counts / epochs).tolist() == pytest.approx([1.0, 1.5, 2.25, 3.0], abs=0.08)
    sampler.set_epoch(0)
    first = list(sampler)
    assert sorted(first).count(0) == 1 and sorted(first).count(3) == 3
    assert list(sampler) == first  # an epoch is a pure function of (seed, epoch)
    sampler.set_epoch(1)
    assert list(sampler) != first


def test_ranks_split_each_epoch_into_equal_disjoint_shares():
    rfs = RepeatFactorSampler(torch.tensor([1.0, 1.5, 2.5, 1.0, 1.0, 3.0, 1.2]), seed=1)
    shards = [DistributedRepeatFactorSampler(rfs, 2, r) for r in range(2)]
    for epoch in range(5):
        for s in shards:
            s.set_epoch(epoch)
        whole = rfs.epoch_indices(epoch)
        a, b = list(shards[0]), list(shards[1])
        assert len(a) == len(b) == math.ceil(len(whole) / 2)
        merged = sorted(a + b)
        # every draw of the epoch is served once (one repeated to even the shares)
        assert len(merged) - len(whole) in (0, 1)
        for i in set(whole):
            assert merged.count(i) >= whole.count(i)


def test_the_batch_stream_resumes_exactly_where_it_was():
    rfs = RepeatFactorSampler(torch.tensor([1.0, 2.0, 1.5, 1.0, 1.0]), seed=7)
    whole = list(islice(batch_stream(rfs, 2, seed=7), 12))
    later = list(islice(batch_stream(RepeatFactorSampler(rfs.repeat_factors, 7), 2, 7, start=5), 7))
    assert later == whole[5:]
    assert all(len(b) == 2 for b in whole)
    seeds = [s for b in whole for _, s in b]
    assert len(set(seeds)) == len(seeds)  # every draw gets its own augmentation
