"""Well detector: build without downloads, train/eval forward, coordinates, post-processing, metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lftiming_ml.wells.dataset import WellDetectionDataset, dihedral, visible_wells
from lftiming_ml.wells.detector import (
    EMPTY,
    OCCUPIED,
    build_well_detector,
    detect_wells,
    detect_wells_batch,
    field_to_model_boxes,
    model_to_field_boxes,
    prepare_field,
    to_network_input,
    wells_from_class_scores,
)
from lftiming_ml.wells.detector_config import detector_profile
from lftiming_ml.metrics.wells import match_wells, well_detection_metrics

CPU = detector_profile("cpu")


def _squares_image(shape: tuple[int, int], boxes: list[tuple[int, int, int, int]], value: int = 4000) -> np.ndarray:
    """uint16 image, background 1000, with bright squares at (y0, x0, y1, x1) inclusive pixel bounds."""
    img = np.full(shape, 1000, np.uint16)
    for y0, x0, y1, x1 in boxes:
        img[y0:y1 + 1, x0:x1 + 1] = value
    return img


def _centre_of_mass(img: np.ndarray) -> np.ndarray:
    w = img - img.min()
    ys, xs = np.indices(img.shape)
    return np.array([(w * ys).sum(), (w * xs).sum()]) / w.sum()


def test_build_without_weights_forward_train_and_eval() -> None:
    torch.manual_seed(0)
    model = build_well_detector(profile=CPU)
    x = torch.rand(1, 1, 128, 128)
    target = {"boxes": torch.tensor([[20.0, 30.0, 58.0, 68.0]]), "labels": torch.tensor([OCCUPIED])}
    model.train()
    losses = model([to_network_input(x[0])], [target])
    assert {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"} <= set(losses)
    assert all(torch.isfinite(v) for v in losses.values())
    model.eval()
    with torch.no_grad():
        (out,) = model([to_network_input(x[0])])
    assert set(out) == {"boxes", "labels", "scores"} and out["boxes"].shape[1] == 4
    assert (out["boxes"][:, 2:] <= 128).all()  # no hidden resize: boxes in the input's px


def test_few_steps_on_two_bright_squares_reduce_loss() -> None:
    torch.manual_seed(0)
    model = build_well_detector(profile=CPU)
    squares = [[(8, 10, 43, 45), (52, 50, 87, 85)], [(50, 8, 85, 43), (10, 52, 45, 87)]]
    images, targets = [], []
    for i, boxes in enumerate(squares):
        img = _squares_image((96, 96), boxes)
        x, scale = prepare_field(img, CPU.model_copy(update={"input_scale": 1.0}))
        images.append(to_network_input(x))
        field_boxes = np.array(boxes, float) + np.array([-0.5, -0.5, 0.5, 0.5])  # pixel edges
        targets.append({"boxes": field_to_model_boxes(field_boxes, scale), "labels": torch.tensor([EMPTY, OCCUPIED])})
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()

    def loss_now() -> float:
        torch.manual_seed(1)  # same anchor/proposal sampling each time
        with torch.no_grad():
            return float(sum(model(images, targets).values()))

    before = loss_now()
    for _ in range(6):
        loss = sum(model(images, targets).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss_now() < 0.7 * before


def test_coordinate_transform_known_values_and_round_trip() -> None:
    field = np.array([[10.0, 20.0, 50.0, 80.0]])  # (y0, x0, y1, x1)
    model = field_to_model_boxes(field, (0.5, 0.25)).numpy()
    # (x0, y0, x1, y1) with p -> (p + 0.5) * s - 0.5
    np.testing.assert_allclose(model, [[20.5 * 0.25 - 0.5, 10.5 * 0.5 - 0.5, 80.5 * 0.25 - 0.5, 50.5 * 0.5 - 0.5]])
    rng = np.random.default_rng(0)
    boxes = np.sort(rng.uniform(0, 700, (20, 2, 2)), axis=1).transpose(0, 2, 1).reshape(20, 4)[:, [0, 1, 2, 3]]
    back = model_to_field_boxes(field_to_model_boxes(boxes, (368 / 736, 368 / 736)), (0.5, 0.5))
    np.testing.assert_allclose(back, boxes, atol=1e-3)


@pytest.mark.parametrize("shape", [(736, 736), (300, 500)])
def test_resampled_image_and_boxes_stay_registered(shape: tuple[int, int]) -> None:
    """A bright rectangle's centre of mass lands where the box transform says, at model scale."""
    y0, x0, y1, x1 = 101, 203, 178, 280
    img = _squares_image(shape, [(y0, x0, y1, x1)])
    x, scale = prepare_field(img, CPU)
    assert x.shape == (1, round(shape[0] * 0.5), round(shape[1] * 0.5))
    bx0, by0, bx1, by1 = field_to_model_boxes(np.array([[y0 - 0.5, x0 - 0.5, y1 + 0.5, x1 + 0.5]]), scale)[0].tolist()
    np.testing.assert_allclose(_centre_of_mass(x[0].numpy()), [(by0 + by1) / 2, (bx0 + bx1) / 2], atol=0.05)


def test_a_smaller_camera_pixel_is_resampled_to_the_well_size_the_detector_learned() -> None:
    """Wells of 77 px at 0.65 um/px are 100 px at 0.5 um/px: the field is shrunk by 0.5/0.65
    more, so they reach the network at the same size, and boxes come back in field px."""
    y0, x0, y1, x1 = 100, 200, 199, 299
    img = _squares_image((912, 912), [(y0, x0, y1, x1)])
    x, scale = prepare_field(img, CPU, pixel_size_um=0.5)
    factor = 0.5 * 0.5 / CPU.um_per_px
    assert x.shape == (1, round(912 * factor), round(912 * factor))
    assert scale == pytest.approx((round(912 * factor) / 912,) * 2)
    assert prepare_field(img, CPU, pixel_size_um=CPU.um_per_px)[0].shape == prepare_field(img, CPU)[0].shape
    bx0, by0, bx1, by1 = field_to_model_boxes(np.array([[y0 - 0.5, x0 - 0.5, y1 + 0.5, x1 + 0.5]]), scale)[0].tolist()
    assert by1 - by0 == pytest.approx(100 * factor, rel=0.01)
    np.testing.assert_allclose(_centre_of_mass(x[0].numpy()), [(by0 + by1) / 2, (bx0 + bx1) / 2], atol=0.05)


def test_dihedral_moves_boxes_with_the_image() -> None:
    img = torch.from_numpy(_squares_image((40, 60), [(5, 10, 14, 29)]).astype(np.float32))[None]
    box = torch.tensor([[10.0, 5.0, 29.0, 14.0]])  # (x0, y0, x1, y1) of the pixel centres
    for t in (False, True):
        for fy in (False, True):
            for fx in (False, True):
                out, b = dihedral(img, box, transpose=t, flip_y=fy, flip_x=fx)
                bright = np.argwhere(out[0].numpy() > 2000)
                (ymin, xmin), (ymax, xmax) = bright.min(0), bright.max(0)
                np.testing.assert_allclose(b[0].numpy(), [xmin, ymin, xmax, ymax])


def test_detect_wells_maps_to_field_px_and_empty_field_gives_empty_arrays() -> None:
    torch.manual_seed(0)
    model = build_well_detector(profile=CPU).eval()
    predictor = model.roi_heads.box_predictor
    with torch.no_grad():  # a detector sure that everything is background
        predictor.cls_score.weight.zero_()
        predictor.cls_score.bias.copy_(torch.tensor([10.0, -10.0, -10.0]))
    image = np.full((256, 256), 1000, np.uint16)
    det = detect_wells(model, image, profile=CPU, device="cpu")
    assert det.boxes.shape == (0, 4) and det.scores.shape == (0,) and det.occupied_prob.shape == (0,)
    assert det.centres.shape == (0, 2)
    with torch.no_grad():  # now every proposal is an occupied well
        predictor.cls_score.bias.copy_(torch.tensor([-10.0, -10.0, 10.0]))
    dets = detect_wells_batch(model, [image, image[:200, :160]], profile=CPU, device="cpu")
    for d, (h, w) in zip(dets, [(256, 256), (200, 160)]):
        assert len(d) > 0 and (d.occupied_prob > 0.99).all() and (d.scores > 0.99).all()
        assert (d.boxes[:, [0, 2]] <= h - 0.5 + 1e-3).all() and (d.boxes[:, [1, 3]] <= w - 0.5 + 1e-3).all()
        assert (d.boxes[:, [0, 1]] >= -0.5 - 1e-3).all()


def test_well_post_processing_is_class_agnostic() -> None:
    logits = torch.log(torch.tensor([[0.1, 0.3, 0.6], [0.2, 0.7, 0.1], [0.9, 0.05, 0.05], [0.05, 0.15, 0.8]]))
    per_class = torch.zeros(4, 3, 4)
    per_class[0, 1] = torch.tensor([0.0, 0.0, 10.0, 10.0])
    per_class[0, 2] = torch.tensor([0.0, 0.0, 10.0, 12.0])
    per_class[1, 1:] = torch.tensor([1.0, 0.0, 11.0, 10.0])  # overlaps box 0, lower score
    per_class[2, 1:] = torch.tensor([50.0, 50.0, 60.0, 60.0])  # background
    per_class[3, 1:] = torch.tensor([30.0, 0.0, 40.0, 10.0])
    boxes, scores, occ = wells_from_class_scores(logits, per_class, score_thresh=0.5, nms_iou=0.3, max_detections=10)
    np.testing.assert_allclose(scores.numpy(), [0.95, 0.9], atol=1e-6)
    np.testing.assert_allclose(occ.numpy(), [0.8 / 0.95, 0.6 / 0.9], atol=1e-6)
    np.testing.assert_allclose(boxes[1].numpy(), [0.0, 0.0, 10.0, 10.0 + 2 * 0.6 / 0.9], atol=1e-5)


def test_visible_wells_and_metrics() -> None:
    boxes = np.array([[10.0, 10.0, 50.0, 50.0], [-30.0, 10.0, 10.0, 50.0], [60.0, 90.0, 100.0, 130.0]])
    clipped, keep = visible_wells(boxes, (120, 120))
    assert keep.tolist() == [True, False, True] and clipped[1].tolist() == [60.0, 90.0, 100.0, 119.5]

    from lftiming_ml.wells.detector import WellDetections

    truth = np.array([[0.0, 0.0, 40.0, 40.0], [0.0, 50.0, 40.0, 90.0], [50.0, 0.0, 90.0, 40.0]])
    pred = np.array([[1.0, 2.0, 41.0, 42.0], [50.0, 0.0, 90.0, 40.0], [200.0, 200.0, 240.0, 240.0]])
    pi, ti = match_wells(pred, truth)
    assert sorted(zip(pi.tolist(), ti.tolist())) == [(0, 0), (1, 2)]
    det = WellDetections(pred, np.ones(3), np.array([0.9, 0.2, 0.5]))
    m = well_detection_metrics([det], [truth], [np.array([True, True, True])])
    assert m["recall"] == pytest.approx(2 / 3) and m["precision"] == pytest.approx(2 / 3)
    assert m["centre_error_max_px"] == pytest.approx(np.hypot(1, 2)) and m["occupancy_accuracy"] == 0.5
    empty = WellDetections.empty()
    m = well_detection_metrics([empty], [truth], [np.ones(3, bool)])
    assert m["recall"] == 0 and np.isnan(m["precision"])


def test_dataset_targets_follow_field_boxes() -> None:
    from lftiming_ml.wells.dataset import FieldSample

    img = _squares_image((200, 200), [(20, 30, 99, 109)])
    sample = FieldSample("c", "f000", 0, img, np.array([[19.5, 29.5, 99.5, 109.5]]), np.array([False]))
    ds = WellDetectionDataset([sample], CPU, augment=True, seed=3)
    for _ in range(4):
        x, target = ds[0]
        assert x.shape == (3, 100, 100) and target["labels"].tolist() == [EMPTY]
        bx0, by0, bx1, by1 = target["boxes"][0].tolist()
        bright = x[0].numpy() > x[0].numpy().mean()
        cy, cx = np.argwhere(bright).mean(0)
        assert abs(cy - (by0 + by1) / 2) < 1.0 and abs(cx - (bx0 + bx1) / 2) < 1.0
