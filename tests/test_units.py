"""One byte-size format for the CLI report, the HTML report and the web UI."""

from pixseek.units import human_size


def test_human_size():
    assert [human_size(n) for n in (0, 512, 1023, 1024, 1536, 5 * 1024 ** 2, 3 * 1024 ** 3, 2048 * 1024 ** 3)] == \
        ["0 B", "512 B", "1023 B", "1.0 KB", "1.5 KB", "5.0 MB", "3.0 GB", "2048.0 GB"]
    assert human_size(5, "bytes") == "5 bytes" and human_size(2048, "bytes") == "2.0 KB"
