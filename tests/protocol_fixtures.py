"""Small generated inputs shared by the protocol, classifier and dashboard tests: a folder-per-class
image set (EuroSAT's layout) and a results folder in the schemas of docs/protocol.md."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ["AnnualCrop", "Forest", "River"]


def make_image_folder(folder, classes=CLASSES, per_class=6, size=16, brightness=0, seed=0, suffix=".jpg"):
    """``folder/<Class>/<Class>_i.jpg``: each class has its own dominant channel, plus noise."""
    rng = np.random.default_rng(seed)
    for c, name in enumerate(classes):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image = np.full((size, size, 3), 40.0 + brightness)
            image[..., c % 3] += 140
            image = np.clip(image + rng.normal(0, 20, image.shape), 0, 255).astype(np.uint8)
            Image.fromarray(image).save(folder / name / f"{name}_{i}{suffix}")
    return folder


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def make_results(root: Path) -> Path:
    """A results folder in the schemas the engine and training.protocol write (docs/protocol.md)."""
    rows = "\n".join(f"{s},{2.3 - s / 100:.4f},{s / 200:.3f},{1e-3 * (1 - s / 100):.6g},{s * 0.5}"
                     + (f",{s / 150:.3f},{2.2 - s / 120:.4f},{s / 160:.3f}" if s % 20 == 0 else ",,,")
                     for s in range(10, 101, 10))
    write(root / "runs" / "cls-run" / "metrics.csv",
          "step,loss,train_accuracy,lr_g,seconds,val_accuracy,val_loss,val_macro_f1\n" + rows + "\n")
    write(root / "runs" / "cls-run" / "config.json", json.dumps({"run_name": "cls-run", "extra": {}}))
    write(root / "runs" / "sr-run" / "metrics.csv",
          "step,loss_pixel,loss_g,lr_g,seconds,val_psnr_y,val_input_psnr_y\n"
          "20,0.05,0.05,0.0005,9,,\n40,0.045,0.045,0.0005,18,26.9,26.5\n60,0.04,0.04,0.0004,27,27.3,26.5\n")
    write(root / "runs" / "sr-run" / "config.json",
          json.dumps({"run_name": "sr-run", "extra": {"preset": "srresnet", "val": "/x/set5", "scale": 4}}))
    write(root / "runs" / "gan-run" / "metrics.csv",
          "step,loss_d,d_real,d_fake,loss_pixel,loss_adv,loss_g,lr_g,lr_d,seconds,val_psnr_y\n"
          "20,0.69,0.52,0.48,0.05,0.71,0.051,1e-4,1e-4,10,\n40,0.55,0.70,0.35,0.048,0.95,0.049,1e-4,1e-4,20,25.1\n"
          "60,0.40,0.85,0.20,0.047,1.40,0.049,1e-4,1e-4,30,25.0\n")
    write(root / "runs" / "gan-run" / "config.json",
          json.dumps({"run_name": "gan-run", "extra": {"preset": "srgan-v2", "val": "/x/set5", "scale": 4}}))
    write(root / "eval" / "sr_set5_x4.csv",
          "task,model,image,psnr,ssim,psnr_y,ssim_y,input_psnr,input_psnr_y,seconds,height,width,scale,seed,dataset\n"
          "sr,bicubic,baby,30,0.8,31,0.85,30,31.0,0.1,512,512,4,0,set5\n"
          "sr,bicubic,bird,28,0.8,29,0.85,28,29.0,0.1,288,288,4,0,set5\n")
    exp = root / "protocol" / "tiny-cnn"
    write(exp / "grid-search.csv",
          "experiment,model,trial,state,status,params_lr,params_weight_decay,params_blocks_per_stage,params_dilation,"
          "metric,value,best_step,val_loss,val_macro_f1,train_loss,steps,seconds,run,dataset\n"
          + "\n".join(f"tiny-cnn,dilated-cnn,{i},COMPLETE,ok,{lr},{wd},{b},{d},val_accuracy,{v},60,1.9,{v - 0.02},1.7,"
                      f"60,30,tiny-cnn-grid-{i},tiny"
                      for i, (lr, wd, b, d, v) in enumerate([(1e-3, 1e-5, 2, 2, 0.31), (1e-3, 1e-4, 3, 2, 0.35),
                                                             (3e-3, 1e-5, 2, 3, 0.42), (3e-3, 1e-4, 3, 3, 0.28)]))
          + "\ntiny-cnn,dilated-cnn,4,PRUNED,diverged,1e-2,1e-4,3,3,val_accuracy,,,,,,,,tiny-cnn-grid-4,tiny\n")
    write(exp / "lr-find.csv", "experiment,model,step,lr,loss,smoothed_loss\n" + "\n".join(
        f"tiny-cnn,dilated-cnn,{i},{1e-6 * 10 ** (i / 5):.6g},{2.3 - 0.05 * i if i < 25 else 1.1 + (i - 25):.4f},"
        f"{2.3 - 0.04 * i if i < 25 else 1.3 + 0.5 * (i - 25):.4f}" for i in range(30)) + "\n")
    write(exp / "lr-find-suggestions.csv",
          "experiment,model,method,index,lr,note,smoothed_loss,stopped,seconds,batch_size,dataset\n"
          "tiny-cnn,dilated-cnn,steepest,12,0.000251,steepest,1.8,end of sweep,3,32,tiny\n"
          "tiny-cnn,dilated-cnn,min/10,19,0.00063,min/10,1.6,end of sweep,3,32,tiny\n"
          "tiny-cnn,dilated-cnn,valley,10,0.0001,valley,1.9,end of sweep,3,32,tiny\n")
    write(exp / "check-init.csv",
          "experiment,model,task,batch,batch_size,loss,expected_loss,difference,expected_source,tolerance,"
          "relative_tolerance,passed,param_tensors,zero_grad_tensors,gradients_ok,zero_grad_names,dataset\n"
          "tiny-cnn,dilated-cnn,classification,0,32,2.31,2.302585,0.007,\"-log(1/C), C = 10 classes\",,,,,,,,\n"
          "tiny-cnn,dilated-cnn,classification,mean,32,2.31,2.302585,0.007,\"-log(1/C), C = 10 classes\",0.115,0.05,"
          "True,20,0,True,,tiny\n")
    write(exp / "check-init-gradients.csv",
          "experiment,model,parameter,shape,numel,grad_norm,nonzero_fraction,zero\n"
          "tiny-cnn,dilated-cnn,stages.0.0.0.weight,64x3x3x3,1728,0.12,1,False\n"
          "tiny-cnn,dilated-cnn,head.bias,10,10,0.03,1,False\n")
    write(exp / "overfit-small.csv",
          "experiment,model,task,n_examples,batch_size,lr,weight_decay,augment,max_steps,steps_taken,initial_loss,"
          "final_loss,min_loss,target_loss,reached,seconds,run,dataset,train_accuracy_eval\n"
          "tiny-cnn,dilated-cnn,classification,32,32,0.001,0,False,300,41,2.31,0.0093,0.0093,0.01,True,20,cls-run,tiny,1\n")
    write(exp / "baselines.csv",
          "experiment,model,task,dataset,split,baseline,accuracy,macro_f1,expected_accuracy,n,num_classes,detail\n"
          "tiny-cnn,dilated-cnn,classification,tiny,test,majority,0.1,0.018,0.1,250,10,always class 0\n"
          "tiny-cnn,dilated-cnn,classification,tiny,test,uniform-random,0.092,0.09,0.1,250,10,uniform\n")
    write(exp / "evaluate.csv", "experiment,model,split,n,num_classes,accuracy,macro_f1,checkpoint,dataset\n"
          "tiny-cnn,dilated-cnn,test,6,3,0.5,0.44,ckpt,tiny\ntiny-cnn,dilated-cnn,val,6,3,0.66,0.6,ckpt,tiny\n")
    write(exp / "evaluate-confusion.csv", "split,true_index,true_class,a,b,c\n"
          "test,0,a,2,0,0\ntest,1,b,1,1,0\ntest,2,c,1,1,0\nval,0,a,2,0,0\nval,1,b,0,2,0\nval,2,c,1,1,0\n")
    return root
