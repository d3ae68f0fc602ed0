"""Writing uint8 images [N, H, W, C]: grids, labelled PNGs, numbered files and the training GIF, each to a
temporary name renamed into place (run_folder.written): a full disk or a kill leaves no half image."""
import glob
import math
import os
import re

import imageio.v3 as iio
import numpy as np

import run_folder

GRID = 25  # images in each 5x5 sample grid, as the original
GIF_SECONDS_PER_FRAME = 0.4  # the original's imagetogif.py


def tile(images, cols=None):
    """Images -> one [rows*(H+2)+2, cols*(W+2)+2, C] grid with 2-pixel white borders, square unless cols."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.full((rows * (h + 2) + 2, cols * (w + 2) + 2, c), 255, np.uint8)
    for i, image in enumerate(images):
        r, k = divmod(i, cols)
        grid[2 + r * (h + 2):2 + r * (h + 2) + h, 2 + k * (w + 2):2 + k * (w + 2) + w] = image
    return grid


def save_image(image, path, title=None, width=400, column_labels=None):
    """A uint8 [H, W, C] image to a PNG at path, scaled up to about `width` pixels (nearest), with an
    optional title above it, or a label above each of its columns of tiles."""
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state
    h, w, c = image.shape
    scale = max(1, round(width / w))
    top = 110 if column_labels else 30 if title else 0  # pixels above the image
    fig = Figure(figsize=(w * scale / 100, (h * scale + top) / 100), dpi=100)
    ax = fig.add_axes([0, 0, 1, h * scale / (h * scale + top)])
    ax.imshow(image[..., 0] if c == 1 else image, cmap='gray', vmin=0, vmax=255, interpolation='nearest')
    if column_labels:
        cell = (w - 2) / len(column_labels)
        ax.set_xticks([2 + cell * (i + 0.5) for i in range(len(column_labels))], column_labels, rotation=60,
                      ha='left', fontsize=8)
        ax.xaxis.tick_top()
        ax.set_yticks([])
        ax.set_frame_on(False)
    else:
        ax.axis('off')
    if title:
        fig.suptitle(title, y=1 - 4 / (h * scale + top), va='top')
    with run_folder.written(path) as temporary:
        fig.savefig(temporary, dpi=100, format='png')


def write_numbered(images, folder):
    """uint8 images -> folder/000001.png ..., replacing what an earlier call left there."""
    os.makedirs(folder, exist_ok=True)
    for old in glob.glob(os.path.join(folder, '[0-9]' * 6 + '.png')):
        os.remove(old)
    for i, image in enumerate(images, 1):
        write_png(image, os.path.join(folder, f'{i:06d}.png'))


def write_png(image, path):
    """A uint8 [H, W, C] image as a PNG at path, at its own size."""
    with run_folder.written(path) as temporary:
        iio.imwrite(temporary, image[..., 0] if image.shape[-1] == 1 else image, extension='.png')


def write_gif(folder, path):
    """The PNGs in folder as a looping GIF at path, in natural order (epoch 5 before epoch 10); a frame that does
    not read, or whose shape is not the newest grid's, is left out with a note. Returns the frames (0: no file)."""
    number = lambda p: [int(t) if t.isdigit() else t for t in re.split(r'(\d+)', os.path.basename(p))]
    frames = []
    for frame in sorted(glob.glob(os.path.join(folder, '*.png')), key=number, reverse=True):  # the newest first
        try:
            image = iio.imread(run_folder.read_bytes(frame, 1 << 27), extension='.png')
        except Exception as e:  # the reader's refusal, or one of imageio's many kinds for a damaged file
            why = e if isinstance(e, run_folder.Unreadable) else type(e).__name__
            print(f'note: {frame} does not read as an image ({why}): left out of the GIF')
            continue
        if frames and image.shape != frames[0].shape:  # the newest grid's: a run's own grids share it
            size = lambda a: f'{a.shape[1]}x{a.shape[0]}x{a.shape[2] if a.ndim == 3 else 1}'  # width x height x colours
            print(f'note: {frame} is {size(image)}, not {size(frames[0])} as the newest grid: left out of the GIF')
        else:
            frames.append(image)
    if frames:
        with run_folder.written(path) as temporary:
            iio.imwrite(temporary, np.stack(frames[::-1]), duration=int(GIF_SECONDS_PER_FRAME * 1000), loop=0,
                        extension='.gif')
    return len(frames)
