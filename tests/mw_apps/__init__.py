"""Applications the middleware tests serve from real servers: Starlette and FastAPI under
uvicorn (built per test, with the test's registry), Flask under gunicorn in multi-process
mode (``flask_app``, which records in the global registry)."""
