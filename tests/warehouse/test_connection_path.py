"""The warehouse's path is checked without opening it: what can never be written is refused."""

from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from smspresto_pipeline.warehouse import WarehousePathError, check_path


def test_a_new_file_in_new_directories_is_fine(tmp_path: Path) -> None:
    check_path(tmp_path / "a" / "b" / "warehouse.duckdb")
    assert not (tmp_path / "a").exists(), "checking creates nothing"


def test_an_existing_duckdb_file_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(path)).close()
    check_path(path)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: p.mkdir(), "is a directory, not a DuckDB file"),
        (lambda p: p.write_bytes(b""), "exists and is not a DuckDB database"),
        (lambda p: p.write_text("id,recipient\n1,0708081488\n"), "is not a DuckDB database"),
    ],
)
def test_unusable_paths_are_named_with_the_reason(
    tmp_path: Path, make: Callable[[Path], object], reason: str
) -> None:
    path = tmp_path / "warehouse.duckdb"
    make(path)
    with pytest.raises(WarehousePathError, match=reason) as failure:
        check_path(path)
    assert str(path) in str(failure.value)


def test_a_file_where_a_directory_should_be(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("")
    with pytest.raises(WarehousePathError, match=r"data is not a directory"):
        check_path(tmp_path / "data" / "sub" / "warehouse.duckdb")
