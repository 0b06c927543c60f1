"""Builds imagefeed._native (native/receive.cc, see client/python/README.md "Performance") when
gRPC C++ is there (pkg-config grpc++, Debian's libgrpc++-dev, and python3-dev); the metadata is in
pyproject.toml. The extension is optional: without it, or if it fails to compile, the package
installs and receives batches through grpcio."""

import subprocess

from setuptools import Extension, setup


def pkg_config(flag):
    try:
        out = subprocess.run(["pkg-config", flag, "grpc++"], check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.split()


cflags, libs = pkg_config("--cflags"), pkg_config("--libs")
extensions = []
if cflags is not None and libs is not None:
    extensions.append(Extension("imagefeed._native", sources=["native/receive.cc"], language="c++",
                                extra_compile_args=cflags + ["-std=c++17", "-O2"], extra_link_args=libs,
                                optional=True))

setup(ext_modules=extensions)
