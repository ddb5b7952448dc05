"""Every tool that writes refuses a user's directory and never replaces an
existing file unless asked (``--overwrite``): run against a user's files,
each tool fails with a message naming the path, and every file keeps its
bytes."""
import hashlib
import os
import os.path as osp

import pytest

from mtlnas_mm.utils import (OUTPUT_MARKER, OutputExistsError,
                             claim_output_dir, claim_output_file,
                             claim_work_dir)
from runner_utils import TINY_SEARCH, load_tool


def snapshot(root) -> dict:
    """Relative path -> sha256 of every file under ``root``."""
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = osp.join(folder, name)
            with open(path, 'rb') as f:
                out[osp.relpath(path, root)] = hashlib.sha256(
                    f.read()).hexdigest()
    return out


@pytest.fixture
def user_nyuv2(tmp_path):
    """A user's NYUv2-layout root: images, labels, normals and lists."""
    root = tmp_path / 'nyu_v2'
    files = {
        'image/train/0001.png': b'user image',
        'seg40/train/0001.png': b'user label',
        'normal/train/0001.png': b'user normal',
        'list/training_seg.txt': b'image/train/0001.png seg40/train/0001.png\n',
        'list/testing_seg.txt': b'image/test/0002.png seg40/test/0002.png\n',
    }
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def test_claim_output_dir_rules(tmp_path):
    """New or empty: created and marked; marked: reused; a user's folder or
    a file: refused with nothing written."""
    new = tmp_path / 'new' / 'out'
    claim_output_dir(str(new), 'tool')
    assert (new / OUTPUT_MARKER).is_file()
    (new / 'result.json').write_text('{}')
    claim_output_dir(str(new), 'tool')  # its own output: reused
    assert (new / 'result.json').read_text() == '{}'
    user = tmp_path / 'docs'
    user.mkdir()
    (user / 'notes.md').write_text('mine')
    with pytest.raises(OutputExistsError,
                       match='docs exists and was not created by a '
                       'mtlnas_mm tool'):
        claim_output_dir(str(user), 'tool')
    assert os.listdir(user) == ['notes.md']
    empty = tmp_path / 'empty'
    empty.mkdir()
    claim_output_dir(str(empty), 'tool')
    assert (empty / OUTPUT_MARKER).is_file()
    afile = tmp_path / 'afile'
    afile.write_text('x')
    with pytest.raises(OutputExistsError, match='not a directory'):
        claim_output_dir(str(afile), 'tool')
    assert afile.read_text() == 'x'


def test_claim_output_file_needs_overwrite(tmp_path):
    path = tmp_path / 'sub' / 'out.json'
    assert claim_output_file(str(path), 'tool') == str(path)
    assert path.parent.is_dir() and not path.exists()
    path.write_text('mine')
    with pytest.raises(OutputExistsError, match='out.json exists.*--overwrite'):
        claim_output_file(str(path), 'tool')
    claim_output_file(str(path), 'tool', overwrite=True)
    assert path.read_text() == 'mine'  # checking never writes
    with pytest.raises(OutputExistsError, match='is a directory'):
        claim_output_file(str(tmp_path), 'tool', overwrite=True)


def test_work_dir_resume_accepts_an_mmengine_run_only(tmp_path):
    """``--resume`` continues a run in a dir holding mmengine's
    ``last_checkpoint`` (then marked); without it, or without --resume,
    an unmarked non-empty dir is refused."""
    run = tmp_path / 'old_run'
    run.mkdir()
    (run / 'iter_4.pth').write_bytes(b'weights')
    with pytest.raises(OutputExistsError, match='--resume'):
        claim_work_dir(str(run), 'train.py', accept_run=True)
    (run / 'last_checkpoint').write_text(str(run / 'iter_4.pth'))
    with pytest.raises(OutputExistsError):
        claim_work_dir(str(run), 'train.py', accept_run=False)
    claim_work_dir(str(run), 'train.py', accept_run=True)
    assert (run / OUTPUT_MARKER).is_file()
    assert (run / 'iter_4.pth').read_bytes() == b'weights'


def test_generator_refuses_a_users_dataset(user_nyuv2):
    before = snapshot(user_nyuv2)
    tool = load_tool('tools/dataset_converters/make_synthetic_nyuv2.py')
    with pytest.raises(OutputExistsError, match='nyu_v2 exists'):
        tool.main(['--out', str(user_nyuv2), '--num-train', '2',
                   '--num-test', '1', '--height', '16', '--width', '16'])
    assert snapshot(user_nyuv2) == before


def test_generator_library_function_refuses_too(user_nyuv2):
    from mtlnas_mm.datasets.synthetic import generate_dataset
    before = snapshot(user_nyuv2)
    with pytest.raises(OutputExistsError):
        generate_dataset(str(user_nyuv2), 1, 1, 16, 16)
    assert snapshot(user_nyuv2) == before


def test_generator_regenerates_its_own_output(tmp_path):
    tool = load_tool('tools/dataset_converters/make_synthetic_nyuv2.py')
    out = str(tmp_path / 'synth')
    args = ['--out', out, '--num-train', '1', '--num-test', '1',
            '--height', '16', '--width', '16']
    tool.main(args)
    tool.main(args)  # its own directory: allowed
    assert osp.isfile(osp.join(out, 'list', 'testing_seg.txt'))


def test_train_refuses_a_users_work_dir(tmp_path):
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'iter_4.pth').write_bytes(b'a checkpoint of the user')
    before = snapshot(work)
    with pytest.raises(OutputExistsError, match='work exists'):
        load_tool('tools/train.py').main([TINY_SEARCH, '--work-dir',
                                          str(work)])
    assert snapshot(work) == before


def test_test_tool_refuses_existing_outputs(tmp_path):
    """--out / --metrics-out files and a user's --work-dir or --show-dir
    are refused before the model is built."""
    tool = load_tool('tools/test.py')
    ckpt = tmp_path / 'iter_1.pth'
    ckpt.write_bytes(b'not used')
    mine = tmp_path / 'mine'
    mine.mkdir()
    (mine / 'metrics.json').write_text('{"mIoU": 1}')
    (mine / 'preds.pkl').write_bytes(b'predictions')
    before = snapshot(tmp_path)
    work = ['--work-dir', str(tmp_path / 'work')]
    for flag, name in (('--metrics-out', 'metrics.json'),
                       ('--out', 'preds.pkl')):
        with pytest.raises(OutputExistsError, match=f'{flag} .*{name}'):
            tool.main([TINY_SEARCH, str(ckpt), flag, str(mine / name),
                       *work])
    for flag in ('--work-dir', '--show-dir'):
        with pytest.raises(OutputExistsError, match='mine exists'):
            tool.main([TINY_SEARCH, str(ckpt), flag, str(mine)])
    after = snapshot(tmp_path)
    after.pop(osp.join('work', OUTPUT_MARKER))  # the tool's own new dir
    assert after == before


def test_derive_arch_refuses_an_existing_file(tmp_path):
    arch = tmp_path / 'arch.json'
    arch.write_text('{"user": true}')
    ckpt = tmp_path / 'iter_1.pth'
    ckpt.write_bytes(b'not used')
    with pytest.raises(OutputExistsError, match='arch.json exists'):
        load_tool('tools/analysis_tools/derive_arch.py').main(
            [TINY_SEARCH, str(ckpt), '--out', str(arch)])
    # the default name next to the checkpoint too
    (tmp_path / 'iter_1_arch.json').write_text('mine')
    with pytest.raises(OutputExistsError, match='iter_1_arch.json'):
        load_tool('tools/analysis_tools/derive_arch.py').main(
            [TINY_SEARCH, str(ckpt)])
    assert arch.read_text() == '{"user": true}'
    assert (tmp_path / 'iter_1_arch.json').read_text() == 'mine'


def test_demo_refuses_users_work_dir_and_data_root(tmp_path, user_nyuv2):
    demo = load_tool('tools/demo.py')
    work = tmp_path / 'results'
    work.mkdir()
    (work / 'table.md').write_text('mine')
    before = snapshot(tmp_path)
    with pytest.raises(OutputExistsError, match='results exists'):
        demo.main(['--work-dir', str(work), '--data-root',
                   str(tmp_path / 'data')])
    # a real data set lacking the generated lists: refused, untouched
    with pytest.raises(OutputExistsError, match='nyu_v2 exists'):
        demo.ensure_data(str(user_nyuv2), 2, 1)
    assert snapshot(tmp_path) == before


def test_visualize_arch_refuses_existing_pictures(tmp_path):
    from mtlnas_mm.structures import Architecture, build_candidate_edges
    edges = build_candidate_edges(['seg', 'normal'], [0, 0, 1, 1])
    arch_file = str(tmp_path / 'arch.json')
    Architecture(edges, edges[:2]).dump(arch_file)
    (tmp_path / 'architecture.png').write_bytes(b'a picture of the user')
    with pytest.raises(OutputExistsError, match='architecture.png exists'):
        load_tool('tools/analysis_tools/visualize_arch.py').main([arch_file])
    assert (tmp_path / 'architecture.png').read_bytes() == \
        b'a picture of the user'
