"""Read back what a run wrote for TensorBoard (its ``tensorboard/`` event files), for tests."""

import os

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData


def _events(run_dir: str) -> EventAccumulator:
    events = EventAccumulator(os.path.join(run_dir, "tensorboard"))
    events.Reload()
    return events


def scalars(run_dir: str) -> dict[str, list[tuple[int, float]]]:
    """Every scalar tag with its (step, value) points."""
    events = _events(run_dir)
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def hparams(run_dir: str) -> tuple[dict, list[str]]:
    """The hyper-parameters (name -> number or text) and the metric tags of the HParams tab."""
    content = {tag: HParamsPluginData.FromString(data)
               for tag, data in _events(run_dir).PluginTagToContent("hparams").items()}
    values = content["_hparams_/session_start_info"].session_start_info.hparams
    metrics = [info.name.tag for info in content["_hparams_/experiment"].experiment.metric_infos]
    return {key: value.number_value if value.HasField("number_value") else value.string_value
            for key, value in values.items()}, metrics
