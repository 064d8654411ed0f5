(deftemplate a (slot x))
(defrule r ?f<-(a (x 1)) => (printout t "fired " ?f crlf) (retract ?f))
(defrule s ?g<- (a (x 2)) (test (< 1 2)) => (printout t "also " ?g crlf))
;;; script
(assert (a (x 1)))
(assert (a (x 2)))
(run)
