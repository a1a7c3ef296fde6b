"""Packaging for severstal_cbam. All settings live in settings.ini; edit there, not here.

This is nbdev 2's template `setup.py` without `pkg_resources`, which current setuptools no longer ships.
"""
from configparser import ConfigParser
import setuptools

config = ConfigParser(delimiters=['='])
config.read('settings.ini', encoding='utf-8')
cfg = config['DEFAULT']

cfg_keys = 'version description keywords author author_email'.split()
expected = cfg_keys + "lib_name user branch license status min_python audience language".split()
for o in expected: assert o in cfg, "missing expected setting: {}".format(o)
setup_cfg = {o:cfg[o] for o in cfg_keys}

licenses = {
    'apache2': ('Apache Software License 2.0','OSI Approved :: Apache Software License'),
    'mit': ('MIT License', 'OSI Approved :: MIT License'),
    'gpl2': ('GNU General Public License v2', 'OSI Approved :: GNU General Public License v2 (GPLv2)'),
    'gpl3': ('GNU General Public License v3', 'OSI Approved :: GNU General Public License v3 (GPLv3)'),
    'bsd3': ('BSD License', 'OSI Approved :: BSD License'),
}
statuses = [ '1 - Planning', '2 - Pre-Alpha', '3 - Alpha',
    '4 - Beta', '5 - Production/Stable', '6 - Mature', '7 - Inactive' ]
py_versions = '3.10 3.11 3.12 3.13'.split()

requirements = cfg.get('requirements','').split()
if cfg.get('pip_requirements'): requirements += cfg.get('pip_requirements','').split()
min_python = cfg['min_python']
lic = licenses.get(cfg['license'].lower(), (cfg['license'], None))
tensorboard_requirements = (cfg.get('tensorboard_requirements') or '').split()
onnx_requirements = (cfg.get('onnx_requirements') or '').split()
search_requirements = (cfg.get('search_requirements') or '').split()
app_requirements = (cfg.get('app_requirements') or '').split()
kaggle_requirements = (cfg.get('kaggle_requirements') or '').split()
dev_requirements = (cfg.get('dev_requirements') or '').split() + tensorboard_requirements + onnx_requirements + search_requirements + app_requirements

setuptools.setup(
    name = cfg['lib_name'],
    license = lic[0],
    classifiers = [
        'Development Status :: ' + statuses[int(cfg['status'])],
        'Intended Audience :: ' + cfg['audience'].title(),
        'Natural Language :: ' + cfg['language'].title(),
    ] + ['Programming Language :: Python :: '+o for o in py_versions[py_versions.index(min_python):]] + (['License :: ' + lic[1] ] if lic[1] else []),
    url = cfg['git_url'],
    packages = setuptools.find_namespace_packages(include=[cfg['lib_path'], cfg['lib_path'] + '.*', 'hydra_plugins.*']),   # hydra_plugins: the Optuna sweeper's entry (Hydra looks for plugins there)
    include_package_data = True,
    package_data = {cfg['lib_path']: ['conf/*.yaml', 'conf/**/*.yaml']},
    install_requires = requirements,
    extras_require={ 'dev': dev_requirements, 'tensorboard': tensorboard_requirements, 'onnx': onnx_requirements, 'search': search_requirements, 'app': app_requirements, 'kaggle': kaggle_requirements },
    dependency_links = cfg.get('dep_links','').split(),
    python_requires  = '>=' + cfg['min_python'],
    long_description = open('README.md', encoding='utf-8').read(),
    long_description_content_type = 'text/markdown',
    zip_safe = False,
    entry_points = {
        'console_scripts': cfg.get('console_scripts','').split(),
        'nbdev': [f'{cfg.get("lib_path")}={cfg.get("lib_path")}._modidx:d']
    },
    **setup_cfg)
