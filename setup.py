"""Build the native remote-write decoder (metadata lives in pyproject.toml)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "api.ingest._fastdecode",
            sources=["api/ingest/_fastdecode.c"],
            depends=[
                "api/ingest/_fd_json.h",
                "api/ingest/_fd_cache.h",
                "api/ingest/_fd_map.h",
                "api/ingest/_fd_parse.h",
            ],
            extra_compile_args=["-O3"],
        ),
        Extension(
            "models._windows",
            sources=["models/_windows.c"],
            depends=[
                "models/_win_common.h",
                "models/_win_gather.h",
                "models/_win_ingest.h",
                "models/_win_spans.h",
                "models/_win_samples.h",
                "models/_win_judge.h",
            ],
            extra_compile_args=["-O3", "-ffp-contract=off"],
        ),
    ]
)
