from overlay.cli.main import app

app(prog_name="overlay")
