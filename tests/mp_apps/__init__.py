"""Applications the multi-process tests run in real servers (gunicorn, uvicorn) and in
``multiprocessing`` pools. Each process calls ``tachikoma_metrics.init`` with the directory
named by ``TACHIKOMA_METRICS_MULTIPROC_DIR``, as a deployment would."""
