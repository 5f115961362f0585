"""The one training/evaluation loop shared by main-video-ssl.py and every eval-*.py script."""
