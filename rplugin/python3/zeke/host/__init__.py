"""The pynvim adapter: the only floor that talks to Neovim."""
