"""The method figure: AVSA pre-training drawn on one real sample (its frame and viewpoints, each view's crop and FOA
rotated toward it, the encoders, the translation networks) and the contrastive pairs of the loss."""

from __future__ import annotations

import math

import torch
from matplotlib.colors import ListedColormap
from matplotlib.patches import FancyBboxPatch, Patch

from tools.figures.data import ViewSample, view_audio
from tools.figures.panels import FIGURE_SIZE, VIEW_COLOURS, energy_axes, figure, frame_axes, image_axes, save


def _box(board, x: float, y: float, width: float, height: float, text: str, colour: str, fontsize: float = 9):
    board.add_patch(FancyBboxPatch((x, y), width, height, boxstyle="round,pad=0.004,rounding_size=0.01",
                                   facecolor=colour, edgecolor="0.25", linewidth=1.2))
    board.text(x + width / 2, y + height / 2, text, ha="center", va="center", fontsize=fontsize, wrap=True)


def _arrow(board, start: tuple[float, float], end: tuple[float, float], text: str = "", colour="0.2",
           style: str = "-|>", offset: float = 0.012, fontsize: float = 8) -> None:
    board.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": style, "color": colour, "linewidth": 1.4})
    if text:
        board.text((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + offset, text, ha="center", va="bottom",
                   fontsize=fontsize)


POSITIVE, HARD, EASY, NOT_A_CANDIDATE = 3, 2, 1, 0
_PAIR_COLOURS = ListedColormap(["white", "0.82", "tab:orange", "tab:green"])


def contrastive_pairs(num_views: int, other_videos: int, negatives: str) -> torch.Tensor:
    """(K, K·(1 + other_videos)) role of each target for each prediction of one video (AVSA, Eq. (8)): the same
    viewpoint ``POSITIVE``, the video's other viewpoints ``HARD`` negatives, the other videos' viewpoints ``EASY``
    negatives: all of them (``negatives: paper``) or the same viewpoint only (``reference``, the released code)."""
    roles = torch.full((num_views, num_views * (1 + other_videos)), EASY if negatives == "paper" else NOT_A_CANDIDATE)
    same = torch.arange(num_views)
    roles[:, :num_views] = HARD
    roles[same, same] = POSITIVE
    if negatives != "paper":
        for video in range(1, 1 + other_videos):
            roles[same, video * num_views + same] = EASY
    return roles


def plot_method(path: str, sample: ViewSample, cfg: dict) -> str:
    """AVSA pre-training on one real sample: its frame and K viewpoints, each view's crop and FOA rotated toward it,
    the encoders, the translation networks over the K viewpoints, and the contrastive pairs. cfg: the pre-training
    config, whose encoders, translation networks and negatives are named."""
    num_views = sample.crops.shape[0]
    fig = figure("method")
    aspect = FIGURE_SIZE["method"][0] / FIGURE_SIZE["method"][1]  # figure-fraction height of a square per width
    board = fig.add_axes((0, 0, 1, 1))
    board.set_xlim(0, 1)
    board.set_ylim(0, 1)
    board.set_axis_off()
    board.set_label("board")
    for x, text in ((0.14, "① 360° video + FOA"), (0.43, "② K viewpoints: crop, FOA rotated toward it"),
                    (0.625, "③ encoders"), (0.745, "④ translation"), (0.905, "⑤ contrastive pairs")):
        board.text(x, 0.94, text, ha="center", va="center", fontsize=12, weight="bold")

    frame_ax = fig.add_axes((0.035, 0.37, 0.21, 0.21 * aspect / 2))
    frame_axes(frame_ax, sample.frame, sample.power, sample.views, fontsize=10)
    board.text(0.14, 0.31, f"equirectangular frame, FOA power over the\nsphere shaded; K = {num_views} viewpoints "
               "drawn per\nsample (azimuth, elevation, field of view)", ha="center", va="top", fontsize=9)

    # ② one column per viewpoint: its crop above, the energy of the FOA rotated toward it below
    left, span = 0.295, 0.27
    step = span / num_views
    size = 0.84 * step
    row_h = size * aspect
    video_y, audio_y = 0.62, 0.24
    audio = view_audio(sample.foa)
    for k in range(num_views):
        colour, x = VIEW_COLOURS(k), left + k * step
        crop_ax = fig.add_axes((x, video_y, size, row_h))
        image_axes(crop_ax, sample.crops[k], f"crop {k}", colour)
        crop_ax.set_title(f"view {k}\naz {math.degrees(sample.views['azimuth'][k]):.0f}°, "
                          f"el {math.degrees(sample.views['elevation'][k]):.0f}°", fontsize=8, color=colour)
        energy_ax = fig.add_axes((x + 0.014, audio_y, size - 0.014, 0.8 * row_h))
        energy_axes(energy_ax, audio["energy_db"][k], f"energy {k}", fontsize=7)
        energy_ax.set_title(f"view {k}: sound\nfrom {math.degrees(audio['azimuth'][k]):+.0f}° az", fontsize=8,
                            color=colour)
    board.text(left + span / 2, video_y + row_h + 0.085, "perspective crop of each viewpoint (a video clip)",
               ha="center", fontsize=9)
    _arrow(board, (0.2, 0.37 + 0.21 * aspect / 2 + 0.01), (left - 0.01, video_y + row_h / 2), "crop")
    _arrow(board, (0.2, 0.36), (left - 0.01, audio_y + 0.4 * row_h), "rotate", offset=-0.045)
    board.text(left + span / 2, audio_y - 0.05,
               "FOA rotated toward each viewpoint (X′ its front, Y′ its left, Z′ its up):\nenergy of W, Y′, Z′, X′ "
               "in dB re W. The audio encoder's input: log-mels of W, Y′, Z′, X′"
               + (" + intensity vector" if cfg["dataset"]["audio"]["intensity"] else ""),
               ha="center", va="top", fontsize=8)

    # ③ encoders, ④ translation networks
    model, loss = cfg["model"], cfg["loss"]
    encoder_x, encoder_w = 0.59, 0.075
    for y, name, symbol, part, colour in ((video_y, "video", "v", model["video"], "#cfe2f3"),
                                          (audio_y, "audio", "a", model["audio"], "#fce5cd")):
        _box(board, encoder_x, y, encoder_w, row_h, f"{name} encoder\n$f_{symbol}$: {part['arch']}-{part['depth']}"
             f"\nwidth {part['width']}", colour)
        _arrow(board, (left + span + 0.004, y + row_h / 2), (encoder_x - 0.004, y + row_h / 2))
    board.text(encoder_x + encoder_w / 2, (video_y + audio_y + row_h) / 2, "shared by\nthe K views", ha="center",
               va="center", fontsize=8, style="italic")
    translation = loss.get("translation") or {"kind": "none"}
    trans_x, trans_w = 0.705, 0.09
    if translation["kind"] == "none":
        text = "none\n(loss.translation.kind)\n\n$v_k$ and $a_k$\nare contrasted\ndirectly"
    else:
        depth = f", depth {translation['depth']}" if "depth" in translation else ""
        text = (f"{translation['kind']}{depth}\nover the K viewpoints,\neach with its position\n"
                r"$(az_k, el_k)$" "\n\n"
                r"$g_{v2a}(v_1 \ldots v_K) \to \hat{a}_k$" "\neach view's audio\npredicted from the\nK views' video\n\n"
                r"$g_{a2v}(a_1 \ldots a_K) \to \hat{v}_k$" "\nits video from the\nK views' audio")
    _box(board, trans_x, audio_y, trans_w, video_y + row_h - audio_y, text, "#d9ead3", fontsize=8.5)
    for y, tokens in ((video_y, r"$v_1 \ldots v_K$"), (audio_y, r"$a_1 \ldots a_K$")):
        _arrow(board, (encoder_x + encoder_w + 0.004, y + row_h / 2), (trans_x - 0.004, y + row_h / 2), tokens)

    # ⑤ the candidates of each prediction
    other_videos = 2
    roles = contrastive_pairs(num_views, other_videos, loss.get("negatives", "paper"))
    pairs_w = 0.165
    pairs_ax = fig.add_axes((0.825, 0.47, pairs_w, pairs_w * aspect * num_views / roles.shape[1]))
    pairs_ax.imshow(roles.numpy(), cmap=_PAIR_COLOURS, vmin=0, vmax=len(_PAIR_COLOURS.colors) - 1)
    pairs_ax.set_xticks([v * num_views + (num_views - 1) / 2 for v in range(1 + other_videos)],
                        ["this video", "other video", "other video"], fontsize=8)
    pairs_ax.set_yticks(range(num_views), [rf"$\hat{{a}}_{k}$" for k in range(num_views)], fontsize=9)
    pairs_ax.set_xticks([x - 0.5 for x in range(1, roles.shape[1])], minor=True)
    pairs_ax.set_yticks([y - 0.5 for y in range(1, num_views)], minor=True)
    pairs_ax.grid(which="minor", color="white", linewidth=1.5)
    pairs_ax.tick_params(which="minor", length=0)
    pairs_ax.set_label("pairs")
    pairs_ax.set_title(r"targets $a_j$, one per viewpoint", fontsize=9)
    _arrow(board, (trans_x + trans_w + 0.004, 0.51), (0.8, 0.51))
    legend = [Patch(facecolor=_PAIR_COLOURS(POSITIVE), label="positive: the same viewpoint"),
              Patch(facecolor=_PAIR_COLOURS(HARD), label="hard negatives: the other\nviewpoints of the same video"),
              Patch(facecolor=_PAIR_COLOURS(EASY), label="easy negatives: viewpoints\nof the other videos")]
    pairs_ax.legend(handles=legend, loc="upper center", bbox_to_anchor=(0.5, -0.45), fontsize=8, frameon=False)
    board.text(0.905, 0.82, f"InfoNCE (τ = {loss['temperature']:g}) over each row;\n"
               r"both directions: $\hat{a}_k$ vs $a_j$ and $\hat{v}_k$ vs $v_j$", ha="center", va="top", fontsize=8.5)
    return save(fig, path)
