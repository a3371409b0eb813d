# Shared by the training test scripts: Fashion-MNIST location, a small-run config, helpers.
FM=${ASIM_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
if [ ! -e "$FM/train-images-idx3-ubyte.gz" ] && [ ! -e "$FM/train-images-idx3-ubyte" ]; then
  echo "SKIP: Fashion-MNIST not found in $FM (Debian package dataset-fashion-mnist)"; exit 77
fi
CFG="$src/conf/train_fashion_resnet8_qat.cfg"
# a CI-sized run: the first N training samples, batch 64, trim noise on (the NAT path)
small=(--set "train_dir=$FM" --set "valid_dir=$FM" --set "test_dir=$FM" --set train_bs=64 --set valid_bs=128
       --set lr_init=0.05 --set "milestones=[10]" --set log_interval=1 --set asim_conv_trim_noise=20
       --set asim_linear_trim_noise=20 --set pretrain_model_path=None)
run() { # ranks, args...
  local n=$1; shift
  if [ "$n" = 1 ]; then timeout 600 "$train" "$@"; else timeout 600 "$mpiexec" -n "$n" --allow-run-as-root --oversubscribe "$train" "$@"; fi
}
# the per-step losses of a history file, one per line (h5dump only)
step_losses() {
  h5dump -d /step_loss -y -w 0 "$1" | sed -n '/DATA {/,/}/p' | sed '1d;$d' | tr ',' '\n' | tr -d ' ' | grep -v '^$'
}
