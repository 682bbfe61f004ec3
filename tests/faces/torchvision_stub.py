"""A pure-torch stand-in for ``torchvision.ops.boxes.batched_nms``, the one torchvision function
facenet-pytorch's MTCNN calls (plus ``torchvision.transforms.functional``, imported but unused by detection).

Why: the torchvision wheel on PyPI does not import beside the test environment's torch build, and the
parity test needs facenet-pytorch's own MTCNN as the reference. Greedy NMS with torchvision's semantics:
boxes sorted by score (descending), IoU from areas without the +1 pixel convention, a box is dropped when
its IoU with a kept box is > ``iou_threshold``; boxes of different ``idxs`` never suppress each other.
"""

import sys
import types


def batched_nms(boxes, scores, idxs, iou_threshold: float):
    import torch

    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.int64)
    offsets = idxs.to(boxes) * (boxes.max() + 1)
    b = boxes + offsets[:, None]
    order = torch.argsort(scores, descending=True)
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    keep, alive = [], torch.ones(len(b), dtype=torch.bool)
    for i in order.tolist():
        if not alive[i]:
            continue
        keep.append(i)
        w = (torch.minimum(b[i, 2], b[:, 2]) - torch.maximum(b[i, 0], b[:, 0])).clamp(min=0)
        h = (torch.minimum(b[i, 3], b[:, 3]) - torch.maximum(b[i, 1], b[:, 1])).clamp(min=0)
        inter = w * h
        alive &= ~(inter / (area[i] + area - inter) > iou_threshold)
    return torch.tensor(keep, dtype=torch.int64)


def install() -> None:
    """Put the stand-in into ``sys.modules`` unless a working torchvision imports."""
    try:
        import torchvision.ops.boxes  # noqa: F401
        return
    except Exception:  # a missing or broken torchvision: both mean "use the stand-in"
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
    tv = types.ModuleType("torchvision")
    ops = types.ModuleType("torchvision.ops")
    boxes = types.ModuleType("torchvision.ops.boxes")
    boxes.batched_nms = batched_nms
    transforms = types.ModuleType("torchvision.transforms")
    functional = types.ModuleType("torchvision.transforms.functional")
    tv.ops, ops.boxes, tv.transforms, transforms.functional = ops, boxes, transforms, functional
    sys.modules.update({"torchvision": tv, "torchvision.ops": ops, "torchvision.ops.boxes": boxes,
                        "torchvision.transforms": transforms, "torchvision.transforms.functional": functional})
