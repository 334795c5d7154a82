"""The project's errors cross process boundaries intact: a unit that fails in a worker
process raises the same error, message and notes in the run (an error that cannot be
unpickled breaks the whole process pool instead, hiding the file and the problem)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from lftiming_ml.annotations.validate import AnnotationError
from lftiming_ml.chip.reader import ChipValidationError


@pytest.mark.parametrize("error", [ChipValidationError(Path("/data/raw/c1/f001/phase.tif"), "truncated TIFF"),
                                   AnnotationError("wells/f000/r0c1.json", "label ids jump")])
def test_errors_survive_pickling_with_their_fields_and_notes(error: Exception) -> None:
    error.add_note("in cell_masks unit f001 of c1.zarr")
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error) and str(back) == str(error)
    assert back.__notes__ == ["in cell_masks unit f001 of c1.zarr"]
    assert vars(back) == vars(error)


def test_an_error_pickle_cannot_rebuild_reaches_the_run_and_the_pool_survives(tmp_path: Path) -> None:
    from lftiming_ml.workers import WorkerPool
    from tests.reliability.unit_fns import square_or_fail

    calls = [(f"f00{i}", (i, 2)) for i in range(4)]
    with WorkerPool(workers=2, threads=1) as pool:
        with pytest.raises(RuntimeError, match=r"TwoPartError: item 2: cannot be squared") as e:
            pool.map(square_or_fail, calls, stage="squares", store_path=tmp_path / "c1.zarr")
        assert "in squares unit f002 of c1.zarr" in e.value.__notes__
        # the same workers answer the next stage (the error did not break the pool)
        assert pool.map(square_or_fail, [(n, (x, -1)) for n, (x, _) in calls], stage="squares",
                        store_path=tmp_path / "c1.zarr") == [0, 1, 4, 9]
